"""A venue whose order books come from its public book stream while the stream is fresh: in the
monitor from the stream itself (`StreamedVenue`), in a worker from the books the monitor shares
over Redis (`SharedBookVenue`, published by `share_books`).

`order_book` answers from the stream (no request, no budget) when the streamed book was
updated within `max_age_seconds`; otherwise it reads the venue as before, and asks the stream to
follow that symbol from now on. A stream that dropped or went quiet is never a price: its book
ages past the bound and the venue's REST answers instead.

A worker's event loop runs only during a job, so a stream of its own would go stale between
jobs: the monitor, which runs all the time, publishes each update of a streamed book, and the
shared copy expires when the book is `max_age_seconds` old. Every read of a worker asks for its
symbol; the monitor's stream follows the symbols asked for within `FOLLOWED_SECONDS` and stops
following those it started for the workers once nobody asked for them that long (a symbol the
monitor's own reads follow again at their next miss).

Everything else is the venue's own: the other reads and the orders go to `venue`, and
`__getattr__` passes on what `/metrics` and the budget show.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.market import Market, OrderBook
from app.domain.orders import Fill, OrderRequest, OrderStatus
from app.ports.exchange import Balance, Capabilities, Exchange, Position
from app.ports.streams import BookStream, SharedBooks

log = logging.getLogger(__name__)

WANTED_SECONDS = 1.0  # how often the monitor reads the symbols the workers asked for
FOLLOWED_SECONDS = 3600.0  # a symbol no worker read for this long is not followed for them


class _BookFirstVenue(ABC):
    """`Exchange` over `venue`; `order_book` is the subclass's."""

    def __init__(self, venue: Exchange) -> None:
        self.venue = venue
        self.name: str = venue.name
        self.capabilities: Capabilities = venue.capabilities
        self.streamed = 0  # books served from the stream (tests, bench)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.venue, name)

    @property
    def request_expiry_seconds(self) -> float | None:
        return self.venue.request_expiry_seconds

    @abstractmethod
    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook: ...

    async def markets(self) -> dict[str, Market]:
        return await self.venue.markets()

    async def balances(self) -> dict[str, Balance]:
        return await self.venue.balances()

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        return await self.venue.create_order(request)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        return await self.venue.cancel_order(symbol, order_id)

    async def fetch_order(self, symbol: str, order_id: str) -> OrderStatus:
        return await self.venue.fetch_order(symbol, order_id)

    async def fetch_order_by_client_id(
        self, symbol: str, client_order_id: str
    ) -> OrderStatus | None:
        return await self.venue.fetch_order_by_client_id(symbol, client_order_id)

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        return await self.venue.open_orders(symbol)

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        return await self.venue.fills_since(symbol, since)

    async def positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        return await self.venue.positions(symbols)

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        await self.venue.set_leverage(symbol, leverage)


class StreamedVenue(_BookFirstVenue):
    """`Exchange` over `venue`, its books from `books` while they are fresh."""

    def __init__(self, venue: Exchange, books: BookStream, *, max_age_seconds: float) -> None:
        super().__init__(venue)
        self.books, self.max_age_seconds = books, max_age_seconds

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        book = self.books.fresh(symbol, depth, self.max_age_seconds)
        if book is not None:
            self.streamed += 1
            return book
        self.books.watch(symbol)
        return await self.venue.order_book(symbol, depth)


class SharedBookVenue(_BookFirstVenue):
    """`Exchange` over `venue` (a worker's), its books from those the monitor shares while they
    are fresh: one Redis round trip instead of a venue request."""

    def __init__(self, venue: Exchange, shared: SharedBooks, *, max_age_seconds: float) -> None:
        super().__init__(venue)
        self.shared, self.max_age_seconds = shared, max_age_seconds

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        book = await self.shared.read(self.name, symbol, depth, self.max_age_seconds)
        if book is not None:
            self.streamed += 1
            return book
        return await self.venue.order_book(symbol, depth)


async def share_books(
    venue: str,
    books: BookStream,
    shared: SharedBooks,
    stop: asyncio.Event,
    *,
    depth: int,
    max_age_seconds: float,
    followed_seconds: float = FOLLOWED_SECONDS,
    asked_every_seconds: float = WANTED_SECONDS,
) -> None:
    """Publish every update of `books` (`depth` levels a side) until `stop`, and follow the
    symbols the workers asked for within `followed_seconds` (read every `asked_every_seconds`).
    A Redis failure costs the workers those books (they read the venue), never the loop."""
    loop = asyncio.get_running_loop()
    asked_at = float("-inf")
    started: set[str] = set()  # the symbols followed because the workers asked for them
    while not stop.is_set():
        if loop.time() - asked_at >= asked_every_seconds:
            asked_at = loop.time()
            try:
                asked = await shared.wanted(venue, followed_seconds)
            except Exception as error:  # noqa: BLE001 - Redis away: asked again next time
                log.debug("%s: the symbols the workers asked for unread (%s)", venue, error)
            else:
                started = _follow_asked(venue, books, started, asked)
        changed = await books.changed(asked_every_seconds)
        fresh = []
        for symbol in changed:
            book, age = books.fresh(symbol, depth, max_age_seconds), books.age(symbol)
            if book is not None and age is not None:
                fresh.append((book, age))
        if not fresh:
            continue
        try:
            await shared.publish(venue, fresh, depth, max_age_seconds)
        except Exception as error:  # noqa: BLE001 - the next update is published again
            log.debug("%s: books not shared (%s)", venue, error)


def _follow_asked(venue: str, books: BookStream, started: set[str], asked: set[str]) -> set[str]:
    """Follow what is `asked` and was not followed; stop following what was `started` for the
    workers and is not asked any more. The symbols started for the workers, now."""
    kept = started & asked
    for symbol in sorted(asked - started):
        if books.watch(symbol):
            kept.add(symbol)
    for symbol in sorted(started - asked):
        log.info("%s: the %s book is not followed any more (no worker read it lately)", venue,
                 symbol)  # fmt: skip
        books.unwatch(symbol)
    return kept
