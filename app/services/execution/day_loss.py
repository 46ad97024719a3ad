"""Today's loss as MAX_DAILY_LOSS counts it, in the account's currency (ACCOUNT_CURRENCY).

What was realized today (every change of a bracket's realized P&L, a partial take-profit as it
fills) and, unless DAILY_LOSS_COUNTS_UNREALIZED=false, the open positions at their marks: the mid
of their venue's book, as `GET /positions` shows them. P&L in another quote currency is converted
at the mid of a venue's book for that currency against the account's (BTC/USDT for BTC); when no
venue lists one, the gate refuses entries and says what to set (`risk._daily_loss`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Collection, Mapping, Sequence
from decimal import Decimal

import msgspec

from app.domain.orders import Side
from app.domain.risk_values import AccountSnapshot, RiskLimits
from app.domain.symbols import quote_currency
from app.ports.errors import ExchangeError
from app.ports.exchange import Exchange
from app.ports.execution import AccountState
from app.services.execution.views import VenueView

log = logging.getLogger("signalgate.execution")
_ZERO = Decimal(0)
Pair = tuple[str, str]  # venue, symbol


async def with_day_pnl(
    snapshot: AccountSnapshot,
    state: AccountState,
    views: Sequence[VenueView],
    venues: Mapping[str, Exchange],
    limits: RiskLimits,
    entry_symbol: str | None,
    *,
    in_process: bool = False,
) -> AccountSnapshot:
    """`snapshot` with today's realized P&L, the open positions' unrealized P&L (when counted),
    the positions without a mark and the currencies no venue converts.

    Args:
        snapshot: the account as read, before the day's P&L.
        state: the account's holdings and activity (today's realized P&L by currency).
        views: the venues as just read for the signal's symbol (their books serve as marks).
        venues: every venue, by name, for the other marks and the conversion rates.
        limits: the account's limits: its currency, whether unrealized P&L counts.
        entry_symbol: the symbol of the entry to check, whose own quote currency must convert
            too (its P&L will count); None for a unit's leg.
        in_process: the venues answer in this process: read them one after the other.
    """
    currency = limits.currency
    realized = {c: v for c, v in state.activity.realized_today.items() if v}
    unrealized: dict[str, Decimal] = {}
    unpriced: list[str] = []
    if limits.daily_loss_counts_unrealized:
        held = [h for h in state.holdings if h.position > 0 and h.entry_price is not None]
        marks = await _marks(venues, views, {(h.venue, h.symbol) for h in held}, in_process)
        for h in held:
            mark = marks.get((h.venue, h.symbol))
            if mark is None or h.entry_price is None:
                unpriced.append(f"{h.symbol} on {h.venue}")
                continue
            sign = 1 if h.side is Side.BUY else -1
            quote = quote_currency(h.symbol)
            unrealized[quote] = unrealized.get(quote, _ZERO) + sign * (mark - h.entry_price) * (
                h.position
            )
    needed = {*realized, *unrealized}
    if entry_symbol is not None:
        needed.add(quote_currency(entry_symbol))
    rates = await _rates(venues, views, sorted(needed - {currency}), currency)
    rates[currency] = Decimal(1)

    def converted(sums: Mapping[str, Decimal]) -> Decimal:
        return sum((v * rates[c] for c, v in sums.items() if c in rates), _ZERO)

    return msgspec.structs.replace(
        snapshot,
        currency=currency,
        realized_pnl_today=converted(realized),
        unrealized_pnl=converted(unrealized),
        unpriced=tuple(sorted(unpriced)),
        unconverted=tuple(sorted(c for c in needed if c not in rates)),
    )


def _known_mid(views: Sequence[VenueView], venue: str, symbol: str) -> Decimal | None:
    """The mid of `symbol` on `venue` when the executor's read of the signal's symbol has it
    (its book, or a mark read with it)."""
    for view in views:
        if view.quote.venue != venue:
            continue
        for book in (view.quote.book, *view.marks):
            if book is not None and book.symbol == symbol:
                return book.mid
    return None


async def _mid(venues: Mapping[str, Exchange], venue: str, symbol: str) -> Decimal | None:
    exchange = venues.get(venue)
    if exchange is None:
        return None
    try:
        mid = (await exchange.order_book(symbol, 1)).mid
    except ExchangeError as error:
        log.info("no mark for %s on %s: %s", symbol, venue, error)
        return None
    return mid if mid is not None and mid > 0 else None


async def _marks(
    venues: Mapping[str, Exchange],
    views: Sequence[VenueView],
    pairs: Collection[Pair],
    in_process: bool,
) -> dict[Pair, Decimal | None]:
    """The mid of each (venue, symbol): from the executor's read when it has it, else read."""
    marks = {pair: _known_mid(views, *pair) for pair in pairs}
    unread = sorted(pair for pair, mark in marks.items() if mark is None)
    reads: list[Awaitable[Decimal | None]] = [_mid(venues, *pair) for pair in unread]
    # one after the other in process (a backtest); else their round trips overlap
    found = [await read for read in reads] if in_process else await asyncio.gather(*reads)
    marks.update(zip(unread, found, strict=True))
    return marks


async def _rates(
    venues: Mapping[str, Exchange],
    views: Sequence[VenueView],
    currencies: Sequence[str],
    into: str,
) -> dict[str, Decimal]:
    """What one unit of each currency is worth in `into`, from the first venue that lists the
    pair either way round and answers with a price; a currency without one is left out."""
    rates: dict[str, Decimal] = {}
    for currency in currencies:
        for name, venue in venues.items():
            try:
                markets = await venue.markets()
            except ExchangeError:
                continue
            for symbol, invert in ((f"{currency}/{into}", False), (f"{into}/{currency}", True)):
                if symbol not in markets:
                    continue
                mid = _known_mid(views, name, symbol) or await _mid(venues, name, symbol)
                if mid is not None:
                    rates[currency] = 1 / mid if invert else mid
                    break
            if currency in rates:
                break
    return rates


# what `with_day_pnl` counts, carried over to a snapshot read again for the same signal
_DAY_FIELDS = ("currency", "realized_pnl_today", "unrealized_pnl", "unpriced", "unconverted")


def with_day_of(snapshot: AccountSnapshot, counted: AccountSnapshot | None) -> AccountSnapshot:
    """`snapshot` with the day's P&L as `with_day_pnl` counted it in `counted` (unchanged when
    None): the reservation's re-reads of the book count the same day."""
    if counted is None:
        return snapshot
    return msgspec.structs.replace(snapshot, **{f: getattr(counted, f) for f in _DAY_FIELDS})
