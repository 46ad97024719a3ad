"""What the intake, the forwarder and the read API need: the inbox, the queue, the signal store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import msgspec

from app.domain.signals import Signal, SignalRecord, SignalStatus
from app.ports.execution import OrderView


class Admitted(msgspec.Struct, frozen=True):
    pass


class Duplicate(msgspec.Struct, frozen=True):
    first_id: str
    # every signal the first copy became, when it fanned out to several accounts
    first_ids: tuple[str, ...] = ()


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
        self,
        record: SignalRecord,
        *,
        dedupe_seconds: int,
        rate_key: str,
        rate_limit: int,
        also: Sequence[SignalRecord] = (),
    ) -> Admission:
        """Keep `record` unless rate-limited; a queued one whose key is taken becomes a duplicate.
        `also`: the other signals of the same alert (one per subscribed account), kept with it
        under its key, or not at all (a duplicate is recorded once, as `record`).

        Raises:
            Unavailable: the inbox could not be reached; nothing was kept.
        """
        ...


class InboxLookup(Protocol):
    """One record in the inbox by its signal id, before the forwarder has moved it to SQL."""

    async def find(self, signal_id: str) -> SignalRecord | None:
        """The record admitted under `signal_id` and not forwarded yet, or None.

        Raises:
            Unavailable: the inbox could not be reached.
        """
        ...


class InboxReader(Protocol):
    """The forwarder's side of the inbox: records kept by `Inbox.admit`, at least once."""

    def read(self, count: int, block_ms: int) -> list[tuple[str, SignalRecord]]: ...

    def first_delivered(self) -> bool:
        """Whether the entries of the last read are delivered for the first time: no forwarder
        read them before (one that failed or stopped before acknowledging them), so no job of
        theirs can be queued yet."""
        ...

    def ack(self, entry_ids: Sequence[str]) -> None: ...

    def claim_dedupe(self, records: Sequence[tuple[SignalRecord, int]]) -> dict[str, str]:
        """Mark re-queued spooled records as seen for their window in seconds, so that copies
        arriving later are duplicates. The records of one alert (its accounts' copies, one
        dedupe key) claim it together.

        Returns:
            The records whose key other signals had claimed (they are duplicates), each with
            the first of those signals' ids.
        """
        ...


class ForwarderHeartbeat(Protocol):
    """Where a forwarder records that its loop goes round (`/ready` and `/metrics` read it)."""

    def beat(self) -> None:
        """Record the time now.

        Raises:
            Unavailable: it could not be recorded.
        """
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
    def enqueue_signals(self, records: Sequence[SignalRecord], *, new: bool = False) -> None:
        """Enqueue execution jobs for these signals (one per batch) with deterministic job ids,
        each id with its account and symbol, so that the worker takes their locks without
        reading them first; existing jobs are kept. `new`: none of them was ever queued (the
        inbox's first deliveries): their jobs are not looked for first (a job queued twice all
        the same runs twice, which a job is written to bear)."""
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
    account: str | None = None
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
