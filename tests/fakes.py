"""In-memory stand-ins for the ports, for unit tests of the services."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count

import msgspec

from app.domain.signals import SignalRecord, SignalStatus
from app.ports.errors import Unavailable
from app.ports.signals import Admission, Admitted, Duplicate, RateLimited


@dataclass
class FakeClock:
    current: datetime = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class FakeHeartbeat:
    """Counts the forwarder's beats; `down` makes it unreachable."""

    down: bool = False
    beats: int = 0

    def beat(self) -> None:
        if self.down:
            raise Unavailable("heartbeat down")
        self.beats += 1


class SequentialIds:
    def __init__(self) -> None:
        self._n = count(1)

    def __call__(self) -> str:
        return f"S{next(self._n):025d}"


@dataclass
class FakeInbox:
    """Rate limit, dedupe and a list of kept entries; `down` makes it unreachable."""

    clock: FakeClock
    down: bool = False
    entries: list[tuple[str, SignalRecord]] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    delivered: set[str] = field(default_factory=set)  # entry ids read at least once
    first: bool = False  # the last read's entries were read for the first time
    dedupe: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    rates: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    _ids: count[int] = field(default_factory=lambda: count(1))

    async def admit(
        self,
        record: SignalRecord,
        *,
        dedupe_seconds: int,
        rate_key: str,
        rate_limit: int,
        also: Sequence[SignalRecord] = (),
    ) -> Admission:
        if self.down:
            raise Unavailable("inbox down")
        now = self.clock.now()
        n, start = self.rates.get(rate_key, (0, now))
        if now - start >= timedelta(seconds=60):
            n, start = 0, now
        self.rates[rate_key] = (n + 1, start)
        if n + 1 > rate_limit:
            return RateLimited(int(60 - (now - start).total_seconds()))
        records = (record, *also)
        if record.status is SignalStatus.QUEUED:
            held = self.dedupe.get(record.dedupe_key)
            if held is not None and held[1] > now:
                first = held[0].split(",")
                dup = msgspec.structs.replace(
                    record, status=SignalStatus.DUPLICATE, duplicate_of=first[0]
                )
                self._keep(dup)
                return Duplicate(first[0], tuple(first) if len(first) > 1 else ())
            ids = ",".join(r.id for r in records)
            self.dedupe[record.dedupe_key] = (ids, now + timedelta(seconds=dedupe_seconds))
        for kept in records:
            self._keep(kept)
        return Admitted()

    def _keep(self, record: SignalRecord) -> None:
        self.entries.append((f"{next(self._ids)}-0", record))

    # InboxLookup
    async def find(self, signal_id: str) -> SignalRecord | None:
        if self.down:
            raise Unavailable("inbox down")
        kept = (r for i, r in self.entries if i not in self.acked and r.id == signal_id)
        return next((r for r in kept if r.status is not SignalStatus.DUPLICATE), None)

    # InboxReader
    def read(self, count: int, block_ms: int) -> list[tuple[str, SignalRecord]]:
        if self.down:
            raise Unavailable("inbox down")
        read = [e for e in self.entries if e[0] not in self.acked][:count]
        self.first = not any(entry_id in self.delivered for entry_id, _ in read)
        self.delivered.update(entry_id for entry_id, _ in read)
        return read

    def first_delivered(self) -> bool:
        return self.first

    def ack(self, entry_ids: Sequence[str]) -> None:
        self.acked.update(entry_ids)

    def claim_dedupe(self, records: Sequence[tuple[SignalRecord, int]]) -> dict[str, str]:
        if self.down:
            raise Unavailable("inbox down")
        alerts: dict[str, tuple[list[str], int]] = {}
        for record, seconds in records:
            alerts.setdefault(record.dedupe_key, ([], seconds))[0].append(record.id)
        taken = {}
        for key, (ids, seconds) in alerts.items():
            held = self.dedupe.setdefault(
                key, (",".join(ids), self.clock.now() + timedelta(seconds=seconds))
            )[0].split(",")
            if not set(held) & set(ids):
                taken.update((i, held[0]) for i in ids)
        return taken


@dataclass
class FakeStore:
    down: bool = False
    rows: dict[str, SignalRecord] = field(default_factory=dict)
    history: list[tuple[str, SignalStatus]] = field(default_factory=list)

    def _check(self) -> None:
        if self.down:
            raise Unavailable("database down")

    def add_many(self, records: Sequence[SignalRecord]) -> None:
        self._check()
        for r in records:
            if r.id not in self.rows:
                self.rows[r.id] = r
                self.history.append((r.id, r.status))

    def first_since(self, dedupe_key: str, since: datetime) -> str | None:
        self._check()
        kept = (SignalStatus.QUEUED, SignalStatus.SPOOLED)
        found = [
            r
            for r in self.rows.values()
            if r.dedupe_key == dedupe_key and r.received_at >= since and r.status in kept
        ]
        return min(found, key=lambda r: r.received_at).id if found else None

    def spooled(self, limit: int) -> list[SignalRecord]:
        self._check()
        return sorted(
            (r for r in self.rows.values() if r.status is SignalStatus.SPOOLED), key=lambda r: r.id
        )[:limit]

    def set_status(self, ids: Sequence[str], status: SignalStatus, at: datetime) -> None:
        self._check()
        for i in ids:
            self.rows[i] = msgspec.structs.replace(self.rows[i], status=status)
            self.history.append((i, status))


@dataclass
class FakeQueue:
    down: bool = False
    jobs: list[str] = field(default_factory=list)

    def enqueue_signals(self, records: Sequence[SignalRecord], *, new: bool = False) -> None:
        if self.down:
            raise Unavailable("queue down")
        self.jobs.extend(r.id for r in records if new or r.id not in self.jobs)

    def backlog(self) -> int:
        if self.down:
            raise Unavailable("queue down")
        return len(self.jobs)
