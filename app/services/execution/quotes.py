"""What the executor reads of each venue for a signal: its market, book and balances (a
`VenueView`), and quotes asked ahead as a key's run begins (`Early`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from app.domain.market import Market, OrderBook
from app.domain.routing import VenueQuote
from app.ports.errors import ExchangeError
from app.ports.exchange import Exchange
from app.services.execution.views import VenueView

log = logging.getLogger("signalgate.execution")
_ZERO = Decimal(0)
# quotes asked as a key's run began serve its first signal for this long at most
EARLY_QUOTES_SECONDS = 0.25


async def venue_view(
    name: str,
    venue: Exchange,
    symbol: str,
    marks: Sequence[str] = (),
    *,
    depth: int,
    mode: str,
    in_process: bool,
) -> VenueView:
    """The venue's view of `symbol`; the books of `marks` (depth 1) are asked in the same turn
    of the loop (a paper venue: the same request), and one unread is left out: the day's loss
    reads it again (`day_loss._marks`). `in_process`: one read after the other."""
    healthy = str(getattr(venue, "circuit_state", "closed")) == "closed"
    market: Market | None = None
    book = None
    free_quote = free_base = total = _ZERO
    markets_read = False
    mark_books: tuple[OrderBook, ...] = ()
    try:
        markets = await venue.markets()
        markets_read, market = True, markets.get(symbol)
        if market is not None and healthy:
            if in_process:
                book, balances = await venue.order_book(symbol, depth), await venue.balances()
            else:
                marking = asyncio.gather(*(_mark(venue, s) for s in marks))
                book, balances, read = await asyncio.gather(
                    venue.order_book(symbol, depth), venue.balances(), marking
                )
                mark_books = tuple(b for b in read if b is not None)
            quote_asset = market.settle or market.quote
            if (q := balances.get(quote_asset)) is not None:
                free_quote, total = q.free, q.total
            if (b := balances.get(market.base)) is not None:
                free_base = b.free
    except ExchangeError as error:
        log.info("venue %s unreadable for %s: %s", name, symbol, error)
        healthy = False
    quote = VenueQuote(
        venue=name,
        mode=mode,
        market=market,
        book=book,
        healthy=healthy,
        free_quote=free_quote,
        free_base=free_base,
        markets_read=markets_read,  # unread: the venue's configured mode still counts
    )
    return VenueView(quote, total, mark_books)


async def requests_sent(most: int = 32) -> None:
    """Yield until every task started so far has reached a wait (for an answer, a timer): the
    requests they make are on their way before the caller blocks the loop on a synchronous
    call. A paper venue's request takes five turns of the loop to reach Redis (the quote task,
    its request tasks, the batch's send task, the send), a REST request more; `most` turns at
    most (on a loop without asyncio's ready queue to look at: always)."""
    ready = getattr(asyncio.get_running_loop(), "_ready", None)  # asyncio's: no public view
    for _ in range(most):
        await asyncio.sleep(0)
        if ready is not None and not ready:
            return


@dataclass(frozen=True, slots=True)
class Early:
    """Quotes asked as a key's run began: when, and the driver's count of sends then."""

    quoting: asyncio.Future[list[VenueView]]
    sent: int
    asked_at: float  # time.monotonic()

    def fresh(self, sent: int) -> bool:
        """Whether a signal may read them: nothing sent since, and asked moments ago."""
        return sent == self.sent and time.monotonic() - self.asked_at < EARLY_QUOTES_SECONDS


async def ended(quoting: asyncio.Future[list[VenueView]]) -> None:
    """Quotes nobody will read: cancelled, and waited for."""
    quoting.cancel()
    with contextlib.suppress(asyncio.CancelledError, ExchangeError):
        await quoting


async def _mark(venue: Exchange, symbol: str) -> OrderBook | None:
    """The top of `symbol`'s book on `venue`, or None when it cannot be read."""
    try:
        return await venue.order_book(symbol, 1)
    except ExchangeError:
        return None
