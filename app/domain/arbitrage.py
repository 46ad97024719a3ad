"""Arbitrage detection over order books: pure functions, Decimal money.

Direct: one symbol on two venues, bought on the cheaper asks and sold on the richer bids.
Triangular: three pairs on one venue, a cycle of currencies back to the one it started from.
Every leg walks its book for its size (a thin top level does not make an opportunity) and pays
its venue's taker fee; only a net profit of at least `min_profit` (a fraction, 0.2% by default)
is reported. Fees are taken from what each leg receives: the quote of a sell, the base of a buy
(for the direct kind, where both legs trade the same amount, the buy's fee is charged on its cost).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import msgspec

from app.domain.market import Level, Market, MarketKind, OrderBook
from app.domain.orders import Side
from app.domain.signals import Action, Link, QtyMode, Signal

MIN_PROFIT = Decimal("0.002")
_ONE = Decimal(1)
_ZERO = Decimal(0)


class ArbKind(enum.StrEnum):
    DIRECT = "direct"
    TRIANGULAR = "triangular"


class ArbLeg(msgspec.Struct, frozen=True):
    """One order of an opportunity: `amount` in base units at the expected `average_price`."""

    venue: str
    symbol: str
    side: Side
    amount: Decimal
    average_price: Decimal  # VWAP of walking the book for `amount`, before fees
    fee_rate: Decimal


class Opportunity(msgspec.Struct, frozen=True):
    """Legs to take together; `spent` goes in and `received` comes back, both in `currency`
    and net of fees, so `profit` (a fraction) is `received / spent - 1`."""

    kind: ArbKind
    legs: tuple[ArbLeg, ...]
    currency: str
    spent: Decimal
    received: Decimal
    profit: Decimal


class VenueBook(msgspec.Struct, frozen=True):
    """One venue's book for the symbol, with its taker fee (a fraction)."""

    venue: str
    book: OrderBook
    taker_fee: Decimal
    quote: str = ""  # the currency of prices, shown on the opportunity


def _take(levels: Sequence[Level], amount: Decimal) -> Decimal | None:
    """The quote value of `amount` base units taken best first; None if the book is too thin."""
    value = _ZERO
    remaining = amount
    for level in levels:
        if level.price <= 0:
            return None
        if level.amount >= remaining:
            return value + remaining * level.price
        value += level.amount * level.price
        remaining -= level.amount
    return None


def _spend(asks: Sequence[Level], budget: Decimal) -> Decimal | None:
    """The base units `budget` quote buys from the asks, best first; None if they run out."""
    bought = _ZERO
    remaining = budget
    for level in asks:
        if level.price <= 0:
            return None
        cost = level.amount * level.price
        if cost >= remaining:
            return bought + remaining / level.price
        bought += level.amount
        remaining -= cost
    return None


def direct_arbitrage(
    books: Sequence[VenueBook], amount: Decimal, *, min_profit: Decimal = MIN_PROFIT
) -> Opportunity | None:
    """The most profitable way to buy `amount` of one symbol on one venue and sell it on another.

    Args:
        books: the symbol's book on each venue (at least two to find anything).
        amount: the size of both legs, in base units.
        min_profit: the least net profit (a fraction of the quote spent) worth reporting.

    Returns:
        The best opportunity at or above `min_profit`, or None.

    Raises:
        ValueError: the amount is not positive, or the books are not all for one symbol.
    """
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"the arbitrage amount must be a positive number, not {amount}")
    if len({vb.book.symbol for vb in books}) > 1:
        raise ValueError("direct arbitrage compares one symbol's books: got several symbols")
    best: Opportunity | None = None
    for buy in books:
        ask = buy.book.best_ask
        if ask is None:
            continue
        for sell in books:
            bid = sell.book.best_bid
            if sell is buy or bid is None:
                continue
            # Walking deeper only worsens both prices: a pair losing at the top of book loses.
            if bid * (_ONE - sell.taker_fee) <= ask * (_ONE + buy.taker_fee):
                continue
            cost = _take(buy.book.asks, amount)
            proceeds = _take(sell.book.bids, amount)
            if cost is None or proceeds is None:
                continue
            spent = cost * (_ONE + buy.taker_fee)
            received = proceeds * (_ONE - sell.taker_fee)
            profit = received / spent - _ONE
            if profit < min_profit or (best is not None and profit <= best.profit):
                continue
            symbol = buy.book.symbol
            legs = (
                ArbLeg(buy.venue, symbol, Side.BUY, amount, cost / amount, buy.taker_fee),
                ArbLeg(sell.venue, symbol, Side.SELL, amount, proceeds / amount, sell.taker_fee),
            )
            best = Opportunity(ArbKind.DIRECT, legs, buy.quote, spent, received, profit)
    return best


Pairs = dict[tuple[str, str], Market]  # (base, quote) -> the active spot market


def _pairs(markets: Mapping[str, Market]) -> Pairs:
    return {
        (m.base, m.quote): m for m in markets.values() if m.active and m.kind is MarketKind.SPOT
    }


def triangular_arbitrage(
    venue: str,
    path: Sequence[str],
    markets: Mapping[str, Market],
    books: Mapping[str, OrderBook],
    amount: Decimal,
    *,
    min_profit: Decimal = MIN_PROFIT,
) -> Opportunity | None:
    """Go round `path` (e.g. USDT, BTC, ETH: USDT -> BTC -> ETH -> USDT) with `amount` of its
    first currency, walking each pair's book and paying its taker fee on every leg.

    Args:
        venue: the venue all three pairs trade on.
        path: three currencies; the cycle ends where it began.
        markets: the venue's markets by symbol (base, quote and taker fee of each pair); only
            active spot markets count.
        books: the venue's books by symbol; a missing book means no opportunity yet.
        amount: how much of `path[0]` goes in.
        min_profit: the least net profit (a fraction of `amount`) worth reporting.

    Returns:
        The opportunity when it nets at least `min_profit`, else None.

    Raises:
        ValueError: not three distinct currencies, a bad amount, or a pair the venue lacks.
    """
    if len(path) != 3 or len(set(path)) != 3:
        raise ValueError(f"a triangle needs three distinct currencies, not {list(path)}")
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"the arbitrage amount must be a positive number, not {amount}")
    return _round_trip(venue, tuple(path), _pairs(markets), books, amount, min_profit)


def _step(venue: str, pairs: Pairs, have: str, want: str) -> tuple[Market, Side]:
    """Buy `want` with `have` on want/have, or sell `have` for `want` on have/want."""
    market = pairs.get((want, have))
    if market is not None:
        return market, Side.BUY
    market = pairs.get((have, want))
    if market is not None:
        return market, Side.SELL
    raise ValueError(f"{venue} lists no active spot pair between {have} and {want}")


def _round_trip(
    venue: str,
    path: tuple[str, ...],
    pairs: Pairs,
    books: Mapping[str, OrderBook],
    amount: Decimal,
    min_profit: Decimal,
) -> Opportunity | None:
    hops = zip(path, (*path[1:], path[0]), strict=True)
    steps = [_step(venue, pairs, have, want) for have, want in hops]
    holding = amount
    legs: list[ArbLeg] = []
    for market, side in steps:
        book = books.get(market.symbol)
        if book is None:
            return None
        fee = market.taker_fee
        if side is Side.BUY:
            base = _spend(book.asks, holding)
            if base is None or base <= 0:
                return None
            legs.append(ArbLeg(venue, market.symbol, side, base, holding / base, fee))
            holding = base * (_ONE - fee)
        else:
            value = _take(book.bids, holding)
            if value is None or value <= 0:
                return None
            legs.append(ArbLeg(venue, market.symbol, side, holding, value / holding, fee))
            holding = value * (_ONE - fee)
    profit = holding / amount - _ONE
    if profit < min_profit:
        return None
    return Opportunity(ArbKind.TRIANGULAR, tuple(legs), path[0], amount, holding, profit)


def triangles(markets: Mapping[str, Market], start: str) -> list[tuple[str, str, str]]:
    """Every cycle start -> a -> b -> start the active spot markets allow, both ways, sorted."""
    return _triangles(_pairs(markets), start)


def _triangles(pairs: Pairs, start: str) -> list[tuple[str, str, str]]:
    linked: dict[str, set[str]] = {}
    for base, quote in pairs:
        linked.setdefault(base, set()).add(quote)
        linked.setdefault(quote, set()).add(base)
    first = linked.get(start, set())
    return sorted(
        (start, a, b)
        for a in first
        for b in linked.get(a, set())
        if b not in (start, a) and start in linked.get(b, set())
    )


def best_triangular(
    venue: str,
    start: str,
    markets: Mapping[str, Market],
    books: Mapping[str, OrderBook],
    amount: Decimal,
    *,
    min_profit: Decimal = MIN_PROFIT,
) -> Opportunity | None:
    """The most profitable triangle from `start` on one venue (every cycle `triangles` finds),
    or None."""
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"the arbitrage amount must be a positive number, not {amount}")
    pairs = _pairs(markets)
    found = (
        _round_trip(venue, path, pairs, books, amount, min_profit)
        for path in _triangles(pairs, start)
    )
    return max((o for o in found if o is not None), key=lambda o: o.profit, default=None)


def unit_signals(
    opportunity: Opportunity,
    unit_id: str,
    at: datetime,
    *,
    min_profit: Decimal = MIN_PROFIT,
    max_lag_seconds: int = 5,
) -> list[Signal]:
    """The opportunity as linked signals, one per leg, for execution to trade as one unit.

    Confidence is the net profit against twice the minimum (0.5 at the minimum, 1.0 at twice it
    or more); each leg carries its venue, its amount in base units and the price it was found
    at (execution refuses a leg whose price moved past the slippage budget since).
    """
    confidence = float(min(_ONE, opportunity.profit / (2 * min_profit)))
    legs = len(opportunity.legs)
    comment = (
        f"{opportunity.kind} arbitrage: {opportunity.profit * 100:.3f}% net, "
        f"{opportunity.spent:.2f} {opportunity.currency} in, {opportunity.received:.2f} back"
    )
    return [
        Signal(
            symbol=leg.symbol,
            action=Action.BUY if leg.side is Side.BUY else Action.SELL,
            source="strategy:arbitrage",
            ticker=leg.symbol,
            strategy="arbitrage",
            venue=leg.venue,
            quantity=leg.amount,
            qty_mode=QtyMode.BASE,
            price=leg.average_price,
            confidence=confidence,
            fired_at=at,
            max_lag_seconds=max_lag_seconds,
            comment=comment,
            link=Link(unit_id, number, legs),
        )
        for number, leg in enumerate(opportunity.legs)
    ]
