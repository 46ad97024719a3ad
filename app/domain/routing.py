"""Smart order routing: which venue takes an order of a given size, at what price, and why not.

Each venue's book is walked for the size (rounded to that venue's step), the average price is
taken net of the taker fee, and the best effective price wins. The route's mode is the
highest-stakes mode among the venues that list the symbol, or whose market list could not be read
(they may list it), whatever their health, so a live order never falls back to a paper or testnet
venue when the live venue is down. Pure code.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from app.domain.market import Market, MarketKind, OrderBook
from app.domain.orders import Side
from app.domain.paper.rules import truncate, walk

MODE_RANK: dict[str, int] = {"paper": 0, "testnet": 1, "live": 2}
_ONE = Decimal(1)
_BPS = Decimal(10_000)


class VenueQuote(msgspec.Struct, frozen=True):
    """What the router knows of one venue for one symbol at the moment of routing."""

    venue: str
    mode: str  # "paper" | "testnet" | "live"
    market: Market | None  # None: the venue does not list the symbol
    book: OrderBook | None  # None: no book (venue down / no data)
    healthy: bool  # circuit closed
    free_quote: Decimal  # free balance of the quote (or settle) asset
    free_base: Decimal  # free balance of the base asset (spot sells)
    # False: the venue's market list could not be read, so it may list the symbol (market None)
    markets_read: bool = True
    leverage: Decimal = Decimal(1)  # swaps: the margin an entry needs is notional / leverage


class Candidate(msgspec.Struct, frozen=True):
    """A venue that can take the order, with the prices it would get."""

    venue: str
    mode: str
    amount: Decimal  # the size truncated to this venue's amount_step
    average_price: Decimal  # VWAP of walking the book for `amount`
    effective_price: Decimal  # net of the taker fee: buy avg*(1+fee), sell avg*(1-fee)
    impact_bps: Decimal  # |average - best| / best * 10,000
    fee_rate: Decimal


class Rejected(msgspec.Struct, frozen=True):
    """A venue that cannot take the order; `reason` is one sentence with the numbers."""

    venue: str
    reason: str


class Route(msgspec.Struct, frozen=True, tag=True):
    """The chosen venue, the other acceptable ones (best first, same mode) and the refusals."""

    chosen: Candidate
    alternatives: tuple[Candidate, ...]
    rejected: tuple[Rejected, ...]


class NoRoute(msgspec.Struct, frozen=True, tag=True):
    """No venue can take the order; `rejected` says why for each venue."""

    rejected: tuple[Rejected, ...]
    symbol: str = ""
    side: Side = Side.BUY
    amount: Decimal = Decimal(0)

    @property
    def reason(self) -> str:
        """One sentence: "no venue can buy 0.5 BTC/USDT: a: ...; b: ..."."""
        head = f"no venue can {self.side} {_show(self.amount)} {self.symbol}"
        if not self.rejected:
            return f"{head}: no venue is configured"
        return f"{head}: " + "; ".join(f"{r.venue}: {r.reason}" for r in self.rejected)


def _show(value: Decimal) -> str:
    """A number as people write it: no trailing zeros, no exponent."""
    return f"{value.normalize():f}"


def choose_route(
    symbol: str,
    side: Side,
    amount: Decimal,
    quotes: Sequence[VenueQuote],
    *,
    slippage_bps: Decimal = Decimal(50),
    venue_hint: str | None = None,
    reduces: bool = False,
) -> Route | NoRoute:
    """Choose the venue giving the best price net of fees for `amount` of `symbol`.

    Args:
        symbol: the unified symbol, as in the quotes' markets.
        side: the order's side.
        amount: the size in base units (contracts for swaps); each venue truncates it to its step.
        quotes: one per configured venue.
        slippage_bps: the most the average price may move from the best price, in basis points.
        venue_hint: the venue the alert asked for; every other venue is then refused.
        reduces: the order only reduces a position, so it needs no free balance to open one.

    Returns:
        A Route (the best venue, the other acceptable ones, the refusals) or a NoRoute.

    Raises:
        ValueError: the amount is not a positive finite number.
    """
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"the amount to route must be a positive number, not {_show(amount)}")
    rejected: list[Rejected] = []
    accepted: list[Candidate] = []
    listed_ranks = [
        MODE_RANK[q.mode]
        for q in quotes
        if (q.market is not None or not q.markets_read) and q.mode in MODE_RANK
    ]
    route_rank = max(listed_ranks, default=None)
    if venue_hint is not None and all(q.venue != venue_hint for q in quotes):
        rejected.append(
            Rejected(venue_hint, "the alert asked for this venue, which is not configured")
        )
    for quote in quotes:
        if venue_hint is not None and quote.venue != venue_hint:
            rejected.append(Rejected(quote.venue, f"the alert asked for venue {venue_hint}"))
            continue
        outcome = _assess(quote, symbol, side, amount, route_rank, slippage_bps, reduces)
        if isinstance(outcome, Candidate):
            accepted.append(outcome)
        else:
            rejected.append(Rejected(quote.venue, outcome))
    if not accepted:
        return NoRoute(tuple(rejected), symbol, side, amount)
    sign = 1 if side is Side.BUY else -1
    accepted.sort(key=lambda c: (sign * c.effective_price, c.venue))
    return Route(accepted[0], tuple(accepted[1:]), tuple(rejected))


def _assess(
    quote: VenueQuote,
    symbol: str,
    side: Side,
    amount: Decimal,
    route_rank: int | None,
    slippage_bps: Decimal,
    reduces: bool,
) -> Candidate | str:
    """The venue's candidate for the order, or the one-sentence reason it cannot take it."""
    market, book = quote.market, quote.book
    if market is None:
        if not quote.markets_read:
            return f"its markets could not be read, so whether it lists {symbol} is unknown"
        return f"{symbol} is not listed"
    rank = MODE_RANK.get(quote.mode)
    if rank is None:
        return f"its mode {quote.mode!r} is none of paper, testnet or live"
    if route_rank is not None and rank < route_rank:
        top = next(mode for mode, r in MODE_RANK.items() if r == route_rank)
        return (
            f"it is a {quote.mode} venue and a {top} venue lists or may list {symbol}; an order "
            f"never falls back from {top} to {quote.mode}"
        )
    if not market.active:
        return f"{symbol} is inactive"
    if not quote.healthy:
        return "the venue is unhealthy (circuit open)"
    if book is None:
        return f"there is no order book for {symbol}"
    return _price(quote, market, book, side, amount, slippage_bps, reduces)


def _price(
    quote: VenueQuote,
    market: Market,
    book: OrderBook,
    side: Side,
    amount: Decimal,
    slippage_bps: Decimal,
    reduces: bool,
) -> Candidate | str:
    base, quote_asset = market.base, market.settle or market.quote
    size = truncate(amount, market.amount_step)
    if not size:
        return f"{_show(amount)} {base} rounds to 0 at the step of {_show(market.amount_step)}"
    if size < market.min_amount:
        return (
            f"{_show(size)} {base} is below the minimum amount of {_show(market.min_amount)} {base}"
        )
    is_buy = side is Side.BUY
    levels = book.asks if is_buy else book.bids
    _, filled, cost = walk(levels, size, None, is_buy)
    if filled < size:
        book_side = "asks" if is_buy else "bids"
        plural = "" if len(levels) == 1 else "s"
        return (
            f"the book holds only {_show(filled)} {base} of {book_side} "
            f"over {len(levels)} level{plural}, {_show(size)} {base} needed"
        )
    best = levels[0].price
    if best <= 0:  # a broken feed must cost one venue, not the whole route
        return f"the book's best price is {_show(best)}, not a positive number"
    average = cost / size
    impact = abs(average - best) / best * _BPS
    if impact > slippage_bps:
        return (
            f"{_show(size)} {base} moves the price {impact:.2f} bps from {_show(best)}, "
            f"above the {_show(slippage_bps)} bps slippage budget"
        )
    if market.min_cost and cost < market.min_cost:
        return (
            f"the cost {_show(cost)} {quote_asset} is below the minimum of {_show(market.min_cost)}"
        )
    fee = market.taker_fee
    shortfall = _shortfall(quote, market, is_buy, size, cost, fee, reduces)
    if shortfall is not None:
        return shortfall
    effective = average * (_ONE + fee) if is_buy else average * (_ONE - fee)
    return Candidate(quote.venue, quote.mode, size, average, effective, impact, fee)


def _shortfall(
    quote: VenueQuote,
    market: Market,
    is_buy: bool,
    size: Decimal,
    notional: Decimal,
    fee: Decimal,
    reduces: bool,
) -> str | None:
    """Why the venue's free balance cannot pay for the order, fee included, if so."""
    asset = market.settle or market.quote
    if market.kind is MarketKind.SWAP:  # the margin at the entry's leverage, and the fee
        cost = notional / quote.leverage + notional * fee
        if reduces or cost <= quote.free_quote:
            return None
        return (
            f"{_show(cost)} {asset} of margin at {_show(quote.leverage)}x is needed with fees,"
            f" {_show(quote.free_quote)} free"
        )
    cost = notional * (_ONE + fee)
    if is_buy:
        if cost <= quote.free_quote:
            return None
        return f"{_show(cost)} {asset} is needed with fees, {_show(quote.free_quote)} free"
    if reduces or size <= quote.free_base:
        # A reducing sell's coins may sit locked in its own resting exit legs until cancelled.
        return None
    return f"{_show(size)} {market.base} is needed, {_show(quote.free_base)} free"
