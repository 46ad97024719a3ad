"""A venue as the services see it, and the market data that prices paper venues."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

import msgspec

from app.domain.market import Market, OrderBook, Tick
from app.domain.orders import Fill, OrderRequest, OrderStatus


class Capabilities(msgspec.Struct, frozen=True):
    """What a venue can do, as data (routing and brackets read it; no `if venue == ...`)."""

    native_oco: bool = False
    attached_tp_sl: bool = False
    stop_market: bool = True
    reduce_only: bool = False
    client_order_id_max_length: int = 36
    client_order_id_lowercase: bool = False  # the venue lower-cases client order ids (BingX)
    spot_locks_resting_sells: bool = True  # two resting sells cannot share the same coins


class Balance(msgspec.Struct, frozen=True):
    asset: str
    free: Decimal
    used: Decimal  # reserved by resting orders

    @property
    def total(self) -> Decimal:
        return self.free + self.used


class Position(msgspec.Struct, frozen=True):
    """A derivative position as the venue reports it."""

    symbol: str
    amount: Decimal  # signed, in coins: + long, - short
    entry_price: Decimal
    mark_price: Decimal | None = None
    leverage: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    liquidation_price: Decimal | None = None


class Exchange(Protocol):
    """One venue, in the project's own types. Implemented by the paper exchange and by ccxt."""

    name: str
    capabilities: Capabilities

    @property
    def request_expiry_seconds(self) -> float | None:
        """How long after it was sent a request can still be executed by the venue, with the
        adapter's margin (a request older than that is refused, as Binance's `recvWindow`);
        None: the venue's requests do not expire, so a lost order may still be executed later."""
        ...

    async def markets(self) -> dict[str, Market]: ...

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook: ...

    async def balances(self) -> dict[str, Balance]: ...

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        """Place an order. Raises OutcomeUnknown when the answer was lost (look it up)."""
        ...

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus: ...

    async def fetch_order(self, symbol: str, order_id: str) -> OrderStatus: ...

    async def fetch_order_by_client_id(
        self, symbol: str, client_order_id: str
    ) -> OrderStatus | None:
        """The order with this client order id, or None when the venue has none."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]: ...

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]: ...

    async def positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        """Open derivative positions (none at zero); a spot venue has none."""
        ...

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        """Set the leverage of a swap market. Raises InvalidOrder on a spot market."""
        ...


class Probe(msgspec.Struct, frozen=True):
    """What a live venue tells about the account behind its keys (None: it does not tell)."""

    server_time: datetime | None = None
    trading: bool | None = None  # the keys may place orders
    withdrawals: bool | None = None  # the keys may withdraw funds (they should not)
    hedged: bool | None = None  # swaps: two-way position mode (signalgate trades one-way)


@runtime_checkable
class Probed(Protocol):
    """A venue that can be asked about its keys, clock and position mode (`venues check`)."""

    async def probe(self) -> Probe: ...


class MarketData(Protocol):
    """Ticks from a live, replayed or synthetic source, and the book at the latest tick."""

    def ticks(self) -> AsyncIterator[Tick]: ...

    def order_book(self, symbol: str, depth: int = 20) -> OrderBook | None:
        """None before the symbol's first tick."""
        ...
