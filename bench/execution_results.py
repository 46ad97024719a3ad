"""What the execution benchmark reads back: each signal's status, times and entry order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import redis
import sqlalchemy
from sqlalchemy import func, select

from app.adapters.redis.inbox import STREAM
from app.adapters.sql.db import make_engine
from app.adapters.sql.tables import events, signals
from app.adapters.sql.tables_execution import orders
from bench.execution_stack import FINAL, REDIS_URL

QUEUE = "rq:queue:signals"


@cache
def _engine(url: str) -> sqlalchemy.Engine:
    return make_engine(url)


def forget(url: str) -> None:
    """Close the pooled connections to a database about to be dropped."""
    _engine(url).dispose()
    _engine.cache_clear()


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


def inbox_length() -> int:
    return int(_redis().xlen(STREAM))


def queued_jobs() -> int:
    return int(_redis().llen(QUEUE))


def job_times(ids: Sequence[str]) -> dict[str, tuple[datetime, datetime]]:
    """(enqueued_at, started_at) of each signal's own RQ job, for signals queued alone."""
    pipe = _redis().pipeline(transaction=False)
    for signal_id in ids:
        pipe.hmget(f"rq:job:signal-{signal_id}", "enqueued_at", "started_at")
    times = {}
    for signal_id, (enqueued, started) in zip(ids, pipe.execute(), strict=True):
        if enqueued and started:
            times[signal_id] = (_rq_time(enqueued), _rq_time(started))
    return times


def _rq_time(raw: bytes) -> datetime:
    return datetime.fromisoformat(raw.decode()).astimezone(UTC)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def unfinished(db_url: str) -> tuple[int, int]:
    """(signals in SQL, signals not in a final status): one cheap query for polling."""
    query = select(signals.c.status, func.count()).group_by(signals.c.status)
    with _engine(db_url).connect() as conn:
        counts = {status: int(n) for status, n in conn.execute(query).all()}
    return sum(counts.values()), sum(n for s, n in counts.items() if s not in FINAL)


@dataclass(frozen=True)
class Outcome:
    id: str
    status: str
    received_at: datetime
    final_at: datetime  # the signal row's last update: its final status
    fill_at: datetime | None  # the lineage step that reported the entry order
    entry_state: str | None
    reason: str | None  # a denial's or failure's reasons

    @property
    def measured(self) -> bool:
        """Really executed: status executed, the entry filled and its step recorded."""
        return self.status == "executed" and self.entry_state == "filled" and bool(self.fill_at)

    @property
    def received_to_fill_ms(self) -> float:
        assert self.fill_at is not None
        return (self.fill_at - self.received_at).total_seconds() * 1000

    @property
    def received_to_final_ms(self) -> float:
        return (self.final_at - self.received_at).total_seconds() * 1000

    def since_ms(self, sent_at: datetime) -> float:
        assert self.fill_at is not None
        return (self.fill_at - sent_at).total_seconds() * 1000


def outcomes(db_url: str, ids: Sequence[str]) -> list[Outcome]:
    """Every signal of `ids`, in the order given."""
    rows: dict[str, Outcome] = {}
    with _engine(db_url).connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            fills: dict[str, datetime] = {}
            step = (
                select(events.c.signal_id, events.c.at)
                .where(
                    events.c.signal_id.in_(chunk),
                    events.c.status == "order",
                    events.c.detail.like("entry %"),
                )
                .order_by(events.c.id.desc())  # the first step wins: written last into the dict
            )
            for signal_id, at in conn.execute(step).all():
                fills[signal_id] = _utc(at)
            entry = select(orders.c.bracket_id, orders.c.state).where(
                orders.c.bracket_id.in_(chunk), orders.c.leg == "entry"
            )
            states: dict[str, str] = dict(conn.execute(entry).tuples().all())
            query = select(
                signals.c.id,
                signals.c.status,
                signals.c.received_at,
                signals.c.updated_at,
                signals.c.reason,
            ).where(signals.c.id.in_(chunk))
            for signal_id, status, received_at, updated_at, reason in conn.execute(query).all():
                rows[signal_id] = Outcome(
                    signal_id,
                    status,
                    _utc(received_at),
                    _utc(updated_at),
                    fills.get(signal_id),
                    states.get(signal_id),
                    reason,
                )
    return [rows[i] for i in ids if i in rows]
