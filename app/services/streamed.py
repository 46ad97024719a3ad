"""A venue whose order books come from its public book stream while the stream is fresh.

`order_book` answers from the stream (no request, no budget) when the streamed book was
updated within `max_age_seconds`; otherwise it reads the venue as before, and asks the stream to
follow that symbol from now on. A stream that dropped or went quiet is never a price: its book
ages past the bound and the venue's REST answers instead.

Everything else is the venue's own: the other reads and the orders go to `venue`, and
`__getattr__` passes on what `/metrics` and the budget show.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.market import Market, OrderBook
from app.domain.orders import Fill, OrderRequest, OrderStatus
from app.ports.exchange import Balance, Capabilities, Exchange, Position
from app.ports.streams import BookStream


class StreamedVenue:
    """`Exchange` over `venue`, its books from `books` while they are fresh."""

    def __init__(self, venue: Exchange, books: BookStream, *, max_age_seconds: float) -> None:
        self.venue, self.books, self.max_age_seconds = venue, books, max_age_seconds
        self.name: str = venue.name
        self.capabilities: Capabilities = venue.capabilities
        self.streamed = 0  # books served from the stream (tests, bench)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.venue, name)

    @property
    def request_expiry_seconds(self) -> float | None:
        return self.venue.request_expiry_seconds

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        book = self.books.fresh(symbol, depth, self.max_age_seconds)
        if book is not None:
            self.streamed += 1
            return book
        self.books.watch(symbol)
        return await self.venue.order_book(symbol, depth)

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
