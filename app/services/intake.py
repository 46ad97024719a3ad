"""Signal intake: the one road from a webhook alert or a strategy signal to the queue.

`Intake.submit` screens a signal (staleness, confidence), deduplicates it, rate-limits its
sender and keeps it durably in one step. `forward` moves what was kept into SQL and onto the RQ
queue, off the webhook's critical path; `drain_spool` re-queues what SQL kept while Redis was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import msgspec

from app.domain.accounts import AccountRefused, fan_out
from app.domain.signals import (
    Accepted,
    Filtered,
    IntakePolicy,
    Signal,
    SignalRecord,
    SignalStatus,
    Stale,
    dedupe_key,
)
from app.ports.accounts import Subscribers
from app.ports.errors import Unavailable
from app.ports.signals import (
    Admitted,
    Clock,
    Duplicate,
    ForwarderHeartbeat,
    IdFactory,
    Inbox,
    InboxReader,
    JobQueue,
    RateLimited,
    SignalStore,
)

log = logging.getLogger("signalgate.intake")
_NO_ACCOUNTS = (
    "the accounts subscribed to this strategy cannot be read (the database is unreachable);"
    " the alert was not kept, send it again"
)


class Submitted(msgspec.Struct, frozen=True):
    """The answer to one submission. `status` is what the webhook reports."""

    # queued | spooled | filtered | stale | duplicate | invalid | rate_limited | unavailable
    status: str
    signal_id: str | None = None  # the first of `signal_ids` when the alert fanned out
    reason: str | None = None
    retry_after_seconds: int | None = None
    # the alert fanned out to its strategy's subscribed accounts: a signal each, in that order
    signal_ids: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    field: str | None = None  # `invalid`: the alert's field at fault


@dataclass(slots=True)
class Intake:
    inbox: Inbox
    store: SignalStore
    clock: Clock
    new_id: IdFactory
    policy: IntakePolicy
    # the accounts each strategy's alerts trade; None (or none subscribed): the alert's own
    subscribers: Subscribers | None = None

    async def submit(
        self,
        signal: Signal,
        *,
        dialect: str,
        payload: dict[str, object] | str | None = None,
        client: str | None = None,
        sender: str | None = None,
    ) -> Submitted:
        """Screen, deduplicate and durably keep one signal.

        Args:
            signal: the normalized signal.
            dialect: the alert dialect it was decoded from, or "strategy".
            payload: the sanitized payload as received, stored for the audit trail.
            client: the sender's address.
            sender: who is rate-limited (the token or strategy); defaults to the strategy.

        Returns:
            The outcome: 202-worthy (`queued`, `spooled`), 200-worthy (`filtered`, `stale`,
            `duplicate`), `rate_limited`, or `unavailable` when nothing could keep it.
        """
        policy = self.policy
        now = self.clock.now()
        accounts: tuple[str, ...] = ()
        if self.subscribers is not None:
            try:
                found = await self.subscribers.accounts_for(signal.strategy, signal.account)
            except Unavailable:
                return Submitted("unavailable", reason=_NO_ACCOUNTS)
            if isinstance(found, AccountRefused):
                return Submitted("invalid", reason=found.reason, field="account")
            accounts = found
        status = SignalStatus.QUEUED
        reason: str | None = None
        match policy.screen(signal, now):
            case Filtered(reason):
                status = SignalStatus.FILTERED
            case Stale(reason):
                status = SignalStatus.STALE
            case Accepted():
                pass
        key = dedupe_key(signal)  # the alert's, whatever account each copy trades
        records = [
            SignalRecord(id=self.new_id(), received_at=now, status=status, signal=copy,
                         dialect=dialect, dedupe_key=key, reason=reason, payload=payload,
                         client=client)
            for copy in (fan_out(signal, accounts) if accounts else [signal])
        ]  # fmt: skip
        ids = tuple(r.id for r in records) if accounts else ()
        window = policy.dedupe_seconds(signal)
        try:
            admission = await self.inbox.admit(
                records[0],
                dedupe_seconds=window,
                rate_key=sender or f"strategy:{signal.strategy or ''}",
                rate_limit=policy.rate_limit_per_minute,
                also=records[1:],
            )
        except Unavailable:
            return await self._spool(records, window, accounts)
        match admission:
            case Admitted():
                return Submitted(status.value, records[0].id, reason, signal_ids=ids,
                                 accounts=accounts)  # fmt: skip
            case Duplicate(first_id, first_ids):
                return Submitted("duplicate", first_id, "the same alert was received before",
                                 signal_ids=first_ids)  # fmt: skip
            case RateLimited(retry_after):
                return Submitted(
                    "rate_limited",
                    reason=f"more than {policy.rate_limit_per_minute} alerts a minute; "
                    f"retry in {retry_after} s",
                    retry_after_seconds=retry_after,
                )

    async def _spool(
        self, records: list[SignalRecord], window: int, accounts: tuple[str, ...]
    ) -> Submitted:
        """Redis is away: keep the alert's signals in SQL so that they survive, and re-queue
        them later."""
        if records[0].status is SignalStatus.QUEUED:
            records = [msgspec.structs.replace(r, status=SignalStatus.SPOOLED) for r in records]
        record = records[0]

        def keep() -> str | None:
            if record.status is SignalStatus.SPOOLED:
                since = record.received_at - timedelta(seconds=window)
                first = self.store.first_since(record.dedupe_key, since)
                if first is not None:
                    self.store.add_many(
                        [
                            msgspec.structs.replace(
                                record, status=SignalStatus.DUPLICATE, duplicate_of=first
                            )
                        ]
                    )
                    return first
            self.store.add_many(records)
            return None

        try:
            first = await asyncio.to_thread(keep)
        except Unavailable:
            log.error(  # noqa: TRY400 - the cause is logged by the adapters; this is the verdict
                "signal %s lost: neither Redis nor the database could keep it",
                ", ".join(r.id for r in records),
            )
            return Submitted(
                "unavailable",
                reason="neither Redis nor the database is reachable; the alert was not kept, "
                "send it again",
            )
        if first is not None:
            return Submitted("duplicate", first, "the same alert was received before")
        log.warning("Redis unreachable: signal %s spooled to the database",
                    ", ".join(r.id for r in records))  # fmt: skip
        ids = tuple(r.id for r in records) if accounts else ()
        return Submitted(record.status.value, record.id, record.reason, signal_ids=ids,
                         accounts=accounts)  # fmt: skip


def forward(reader: InboxReader, store: SignalStore, queue: JobQueue, *, batch: int = 500) -> int:
    """Move one batch from the inbox into SQL and onto the job queue, then acknowledge it.

    At least once: a crash between the steps repeats them, and both are idempotent (ids already
    stored are kept; jobs already enqueued are kept).

    Returns:
        How many inbox entries were forwarded.
    """
    entries = reader.read(batch, block_ms=200)
    if not entries:
        return 0
    records = [record for _, record in entries]
    store.add_many(records)
    queued = [r for r in records if r.status is SignalStatus.QUEUED]
    queue.enqueue_signals(queued, new=reader.first_delivered())
    reader.ack([entry_id for entry_id, _ in entries])
    return len(entries)


def drain_spool(
    store: SignalStore, queue: JobQueue, reader: InboxReader, clock: Clock, policy: IntakePolicy
) -> int:
    """Re-queue signals spooled to SQL while Redis was unreachable, oldest first.

    Returns:
        How many signals were re-queued.
    """
    records = store.spooled(limit=500)
    if not records:
        return 0
    taken = reader.claim_dedupe([(r, policy.dedupe_seconds(r.signal)) for r in records])
    if taken:  # a copy of the alert was kept before (in Redis, or spooled twice): not run again
        store.set_status(list(taken), SignalStatus.DUPLICATE, clock.now())
        log.warning("spooled signals %s are duplicates of %s", ", ".join(taken),
                    ", ".join(sorted(set(taken.values()))))  # fmt: skip
    kept = [r for r in records if r.id not in taken]
    queue.enqueue_signals(kept)
    store.set_status([r.id for r in kept], SignalStatus.QUEUED, clock.now())
    log.info("re-queued %d spooled signals", len(kept))
    return len(records)


@dataclass
class Forwarder:
    """Runs `forward` and `drain_spool` until stopped, waiting out outages with a backoff.

    In its own process (`signalgate forward`: the Procfile's `forwarder`, or the child of a
    `serve` run alone) or as a thread (`start`). Every turn of its loop and every wait passes
    through `_pause`, which beats `heartbeat` at most every `beat_every_seconds`: a forwarder
    that died or hangs in a call stops beating, one waiting out an outage does not.
    """

    reader: InboxReader
    store: SignalStore
    queue: JobQueue
    clock: Clock
    policy: IntakePolicy
    heartbeat: ForwarderHeartbeat | None = None
    beat_every_seconds: float = 1.0
    spool_every_seconds: float = 1.0
    linger_seconds: float = 0.02  # per job waiting on the queue
    most_linger_seconds: float = 0.25
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _parent: int | None = None
    _next_beat: float = 0.0

    def watch_parent(self, pid: int) -> None:
        """Stop when the process that started us is gone (uvicorn may exit by re-raising the
        signal it caught, which skips its caller's clean-up)."""
        self._parent = pid

    def start(self) -> None:
        self._beat_when_due()  # at work from now on: a readiness probe right after sees it
        self._thread = threading.Thread(target=self.run, name="forwarder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the batch in hand, then stop (safe from a signal handler)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def run(self) -> None:
        backoff = 0.2
        next_spool = 0.0
        while self._pause(0):
            try:
                if time.monotonic() >= next_spool:
                    if drain_spool(self.store, self.queue, self.reader, self.clock, self.policy):
                        continue  # more may be waiting
                    next_spool = time.monotonic() + self.spool_every_seconds
                if forward(self.reader, self.store, self.queue):
                    self._pause(self.linger(self.queue.backlog()))
                backoff = 0.2
            except Unavailable as exc:
                log.warning("forwarder waiting %.1f s: %s", backoff, exc)
                self._pause(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                log.exception("forwarder error; retrying")
                self._pause(1.0)

    def _beat_when_due(self) -> None:
        if self.heartbeat is None or time.monotonic() < self._next_beat:
            return
        self._next_beat = time.monotonic() + self.beat_every_seconds
        # Redis away: the forwarding step waits it out and says so; /ready shows Redis itself
        with contextlib.suppress(Unavailable):
            self.heartbeat.beat()

    def linger(self, backlog: int) -> float:
        """How long to let alerts gather before the next batch when `backlog` jobs wait.

        Nothing when the workers keep up. When they are behind, a job queued now waits for those
        ahead of it anyway (each takes longer than `linger_seconds`), so the alerts that arrive
        meanwhile join it: the workers get one job per batch instead of one per few signals,
        and RQ's cost is per job (about 4 ms and 57 Redis commands on this project's machine).
        """
        return min(self.linger_seconds * backlog, self.most_linger_seconds)

    def _pause(self, seconds: float) -> bool:
        """Wait up to `seconds`, watching for a stop and for the parent's exit.

        Returns:
            False when the forwarder should stop.
        """
        deadline = time.monotonic() + seconds
        while True:
            if self._stop.is_set():
                return False
            if self._parent is not None and os.getppid() != self._parent:
                log.info("forwarder: the web process is gone; stopping")
                self._stop.set()
                return False
            self._beat_when_due()
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            self._stop.wait(min(left, 0.1))
