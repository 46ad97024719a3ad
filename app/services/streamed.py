"""A venue whose order books come from its public book stream while the stream is fresh: in the
monitor from the stream itself (`StreamedVenue`), in a worker from the books the monitor shares
over Redis (`SharedBookVenue`, published by `share_books`).

`order_book` answers from the stream (no request, no budget) when the streamed book was
updated within `max_age_seconds`; otherwise it reads the venue as before, and asks the stream to
follow that symbol from now on. A stream that dropped or went quiet is never a price: its book
ages past the bound and the venue's REST answers instead.

A worker's event loop runs only during a job, so a stream of its own would go stale between
jobs: the monitor, which runs all the time, publishes each update of a streamed book, and the
shared copy expires when the book is `max_age_seconds` old. The symbols a worker found no fresh
book of are followed by the monitor's stream from then on.

Everything else is the venue's own: the other reads and the orders go to `venue`, and
`__getattr__` passes on what `/metrics` and the budget show.
"""

from __future__ import annotations

import asyncio
import logging
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


class _BookFirstVenue:
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

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        raise NotImplementedError

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
) -> None:
    """Publish every update of `books` (`depth` levels a side) until `stop`, and follow the
    symbols the workers asked for. A Redis failure costs the workers those books (they read the
    venue), never the loop."""
    loop = asyncio.get_running_loop()
    asked_at = float("-inf")
    while not stop.is_set():
        if loop.time() - asked_at >= WANTED_SECONDS:
            asked_at = loop.time()
            try:
                for symbol in await shared.wanted(venue):
                    books.watch(symbol)
            except Exception as error:  # noqa: BLE001 - Redis away: asked again next time
                log.debug("%s: the symbols the workers asked for unread (%s)", venue, error)
        changed = await books.changed(WANTED_SECONDS)
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
