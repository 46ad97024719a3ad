"""What the services need from the outside world, in the project's own types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import msgspec

from app.domain.market import Market, OrderBook, Tick
from app.domain.orders import Fill, OrderRequest, OrderStatus
from app.domain.signals import Signal, SignalRecord, SignalStatus


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
        """Enqueue one execution job per id with a deterministic job id; existing jobs are kept."""
        ...


class StatusChange(msgspec.Struct, frozen=True):
    at: datetime
    status: str
    detail: str | None = None


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


class MarketData(Protocol):
    """Ticks from a live, replayed or synthetic source, and the book at the latest tick."""

    def ticks(self) -> AsyncIterator[Tick]: ...

    def order_book(self, symbol: str, depth: int = 20) -> OrderBook | None:
        """None before the symbol's first tick."""
        ...
