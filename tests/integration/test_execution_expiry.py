"""A signal spooled to the database through a Redis outage and drained long after: the drain
re-queues it without screening it again, and execution expires it (an entry placed minutes
late would trade at a price nobody asked for)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.risk_values import RiskLimits
from app.domain.signals import IntakePolicy, SignalRecord, SignalStatus
from app.domain.sizing import SizingPolicy
from app.ports.execution import NoLocks
from app.services.execution.executor import Executor
from app.services.intake import drain_spool
from tests.paper_helpers import book
from tests.unit.test_execution import Books, alert, paper

pytestmark = pytest.mark.anyio
SPOOLED_AT = datetime(2026, 11, 22, 12, tzinfo=UTC)
DRAINED_AT = SPOOLED_AT + timedelta(minutes=5)  # Redis came back five minutes later


class Clock:
    def now(self) -> datetime:
        return DRAINED_AT


class Jobs:
    def __init__(self) -> None:
        self.queued: list[str] = []

    def enqueue_signals(self, records: Sequence[SignalRecord], *, new: bool = False) -> None:
        self.queued.extend(r.id for r in records)

    def backlog(self) -> int:
        return len(self.queued)


class Inbox:
    def claim_dedupe(self, records: Sequence[tuple[SignalRecord, int]]) -> dict[str, str]:
        return {}


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
async def test_a_spooled_entry_drained_late_expires(
    database: str, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(request.getfixturevalue(database))
    try:
        signals = SqlSignalStore(engine)
        record = SignalRecord("01JX5Z3K8Q4W2N7R9T1V3B5C00", SPOOLED_AT, SignalStatus.SPOOLED,
                              alert(), "native", "k")  # fmt: skip
        signals.add_many([record])
        jobs = Jobs()
        assert drain_spool(signals, jobs, Inbox(), Clock(), IntakePolicy()) == 1  # type: ignore[arg-type]
        assert jobs.queued == [record.id]

        venue = paper("a", Books(a=book("99990x1", "100000x1")))
        store = SqlExecutionStore(engine)
        executor = Executor(
            store=store, venues={"a": venue}, modes={"a": "paper"}, clock=Clock().now,
            locks=NoLocks(), limits=RiskLimits(), sizing=SizingPolicy(),
        )  # fmt: skip
        assert await executor.execute(record.id) is SignalStatus.EXPIRED
        assert await venue.open_orders() == []
        assert store.bracket(record.id) is None
    finally:
        engine.dispose()
