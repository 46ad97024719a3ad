"""What the services need from the outside world, in the project's own types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import msgspec

from app.domain.market import Market, OrderBook, Tick
from app.domain.orders import Fill, OrderRequest, OrderStatus
from app.domain.signals import Signal, SignalRecord, SignalStatus
from app.ports_execution import OrderView


class Unavailable(Exception):
    """A store could not be reached; the operation may succeed later."""


class Admitted(msgspec.Struct, frozen=True):
    pass


class Duplicate(msgspec.Struct, frozen=True):
    first_id: str


class RateLimited(msgspec.Struct, frozen=True):
    retry_after_seconds: int


Admission = Admitted | Duplicate | RateLimited


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdFactory(Protocol):
    def __call__(self) -> str: ...


class Inbox(Protocol):
    """The fast, durable front door (Redis): rate limit, dedupe and keep a record in one step."""

    async def admit(
        self, record: SignalRecord, *, dedupe_seconds: int, rate_key: str, rate_limit: int
    ) -> Admission:
        """Keep `record` unless rate-limited; a queued one whose key is taken becomes a duplicate.

        Raises:
            Unavailable: the inbox could not be reached; nothing was kept.
        """
        ...


class InboxReader(Protocol):
    """The forwarder's side of the inbox: records kept by `Inbox.admit`, at least once."""

    def read(self, count: int, block_ms: int) -> list[tuple[str, SignalRecord]]: ...

    def ack(self, entry_ids: Sequence[str]) -> None: ...

    def claim_dedupe(self, records: Sequence[tuple[SignalRecord, int]]) -> None:
        """Mark re-queued spooled records as seen for their window in seconds, so that copies
        arriving later are duplicates."""
        ...


class SignalStore(Protocol):
    """The audit trail in SQL."""

    def add_many(self, records: Sequence[SignalRecord]) -> None:
        """Insert records; ids already stored are left as they are (safe to repeat)."""
        ...

    def first_since(self, dedupe_key: str, since: datetime) -> str | None:
        """The id of the first non-duplicate signal with this key received since `since`."""
        ...

    def spooled(self, limit: int) -> list[SignalRecord]: ...

    def set_status(self, ids: Sequence[str], status: SignalStatus, at: datetime) -> None: ...


class JobQueue(Protocol):
    def enqueue_signals(self, signal_ids: Sequence[str]) -> None:
        """Enqueue execution jobs for these ids (one per batch) with deterministic job ids;
        existing jobs are kept."""
        ...

    def backlog(self) -> int:
        """Jobs waiting for a worker."""
        ...


class StatusChange(msgspec.Struct, frozen=True):
    """One step of a signal's lineage: a status, or an execution step with its facts."""

    at: datetime
    status: str
    detail: str | None = None
    data: dict[str, Any] | None = None


class SignalView(msgspec.Struct, frozen=True):
    """A stored signal as the API shows it."""

    id: str
    received_at: datetime
    status: str
    dialect: str
    source: str
    strategy: str | None
    account: str
    symbol: str
    action: str
    confidence: float | None
    signal: Signal
    reason: str | None = None
    duplicate_of: str | None = None
    payload: dict[str, object] | str | None = None
    client: str | None = None
    history: list[StatusChange] = []
    orders: list[OrderView] = []  # the orders its bracket placed, as last reported


class SignalQuery(msgspec.Struct, frozen=True):
    status: str | None = None
    strategy: str | None = None
    symbol: str | None = None
    since: datetime | None = None
    before: str | None = None  # cursor: the last id of the previous page
    limit: int = 50


class SignalReader(Protocol):
    def get(self, signal_id: str) -> SignalView | None: ...

    def find(self, query: SignalQuery) -> list[SignalView]:
        """Newest first; page with `before`."""
        ...

    def ping(self) -> None:
        """Raise Unavailable when the database cannot be reached."""
        ...


# --- venues -------------------------------------------------------------------------------------


class ExchangeError(Exception):
    """Something a venue said or did not say. Adapters translate their library's errors into
    one of the subclasses, with the venue's message, so nothing above them imports ccxt."""


class Retryable(ExchangeError):
    """Network trouble, rate limit, venue busy: a read may be retried with a backoff."""


class OutcomeUnknown(ExchangeError):
    """An order was sent and no answer came back: it may or may not exist. Never re-send it
    blindly; look it up by its client order id."""


class Fatal(ExchangeError):
    """The venue refused: retrying the same request will not help."""


class InsufficientFunds(Fatal):
    pass


class InvalidOrder(Fatal):
    """Below the minimums, bad precision, unknown symbol, reduce-only with no position..."""


class AuthenticationFailed(Fatal):
    pass


class OrderNotFound(Fatal):
    pass


class Capabilities(msgspec.Struct, frozen=True):
    """What a venue can do, as data (routing and brackets read it; no `if venue == ...`)."""

    native_oco: bool = False
    attached_tp_sl: bool = False
    stop_market: bool = True
    reduce_only: bool = False
    client_order_id_max_length: int = 36
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
    amount: Decimal  # signed, in the unit orders use (contracts): + long, - short
    entry_price: Decimal
    mark_price: Decimal | None = None
    leverage: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    liquidation_price: Decimal | None = None


class Exchange(Protocol):
    """One venue, in the project's own types. Implemented by the paper exchange and by ccxt."""

    name: str
    capabilities: Capabilities

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


class MarketData(Protocol):
    """Ticks from a live, replayed or synthetic source, and the book at the latest tick."""

    def ticks(self) -> AsyncIterator[Tick]: ...

    def order_book(self, symbol: str, depth: int = 20) -> OrderBook | None:
        """None before the symbol's first tick."""
        ...


# --- metrics


class MetricsSnapshot(msgspec.Struct, frozen=True):
    """What `/metrics` shows, computed at scrape time from the shared stores (so every process
    answers the same figures).

    `decisions` counts risk decisions of the last 24 hours by outcome (`approved`, `denied`) and
    reason: the failed check's name for a denial (one count per failed check), `""` for an
    approval. `trading_state` is 1 for the current state and 0 for the others.

    `extra` holds further gauges by name: `"venues_healthy:venue": {"binance": 1.0}` is shown
    as `signalgate_venues_healthy{venue="binance"} 1`; a name without `:label` holds one
    unlabelled value under the key `""`.
    """

    signals_by_status: dict[str, int]
    queue_depth: dict[str, int]
    jobs_by_state: dict[str, int]
    job_latencies_seconds: tuple[float, ...]
    orders_by_state: dict[str, int] = msgspec.field(default_factory=dict)
    brackets_by_state: dict[str, int] = msgspec.field(default_factory=dict)
    brackets_unprotected: int = 0
    decisions: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    trading_state: dict[str, int] = msgspec.field(default_factory=dict)
    execution_latencies_seconds: tuple[float, ...] = ()
    extra: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)


class MetricsSource(Protocol):
    def collect(self) -> MetricsSnapshot:
        """The figures now (blocking I/O: call it from a thread).

        Raises:
            Unavailable: a store could not be reached.
        """
        ...
