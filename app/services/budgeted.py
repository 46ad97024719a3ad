"""A venue seen through its request budget: the bracket monitor's and the reconciliation's reads
wait until they fit the venue's budget (`app.domain.budget`), below its documented rate limit,
so that polling many brackets never gets the keys banned. Order creation and cancels are counted
and never wait: an order or a cancel that is due is never held back by a budget.

Everything else is the venue's own (`__getattr__`): the circuit state and the request counts
that `/metrics` shows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.budget import RequestBudget
from app.domain.market import Market, OrderBook
from app.domain.orders import Fill, OrderRequest, OrderStatus
from app.ports.exchange import Balance, Capabilities, Exchange, Position


class BudgetedVenue:
    """`Exchange` over `venue`, its reads paced by `budget`."""

    def __init__(
        self,
        venue: Exchange,
        budget: RequestBudget,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.venue, self.budget = venue, budget
        self.name: str = venue.name
        self.capabilities: Capabilities = venue.capabilities
        self._clock, self._sleep = clock, sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(self.venue, name)

    @property
    def request_expiry_seconds(self) -> float | None:
        return self.venue.request_expiry_seconds

    @property
    def budget_used(self) -> tuple[int, float]:
        """Requests charged so far, and the budget a minute."""
        return self.budget.used, self.budget.per_minute

    async def _read(self) -> None:
        while (wait := self.budget.wait_seconds(self._clock())) > 0:
            await self._sleep(wait)
        self.budget.charge(self._clock())

    async def markets(self) -> dict[str, Market]:
        return await self.venue.markets()  # cached by the adapter: no request most times

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        await self._read()
        return await self.venue.order_book(symbol, depth)

    async def balances(self) -> dict[str, Balance]:
        await self._read()
        return await self.venue.balances()

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        self.budget.charge(self._clock())
        return await self.venue.create_order(request)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        self.budget.charge(self._clock())
        return await self.venue.cancel_order(symbol, order_id)

    async def fetch_order(self, symbol: str, order_id: str) -> OrderStatus:
        await self._read()
        return await self.venue.fetch_order(symbol, order_id)

    async def fetch_order_by_client_id(
        self, symbol: str, client_order_id: str
    ) -> OrderStatus | None:
        await self._read()
        return await self.venue.fetch_order_by_client_id(symbol, client_order_id)

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        await self._read()
        return await self.venue.open_orders(symbol)

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        await self._read()
        return await self.venue.fills_since(symbol, since)

    async def positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        await self._read()
        return await self.venue.positions(symbols)

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        self.budget.charge(self._clock())
        await self.venue.set_leverage(symbol, leverage)
