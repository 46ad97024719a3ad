"""Account-wide limits hold under concurrency: two real worker processes, each running a batch of
entries on different symbols side by side, share one account's MAX_OPEN_POSITIONS and
MAX_TOTAL_EXPOSURE (the per-symbol locks do not serialize them; the reservations do), and resting
limit entries count at their notional."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis
import redis.asyncio
from rq import Worker

from app.adapters.paper.exchange import PaperExchange
from app.adapters.paper.remote import PaperHost
from app.adapters.paper.store import SqlPaperStore
from app.adapters.queue_rq import RqJobQueue
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.bootstrap.venues import paper_market
from app.domain.orders import OrderState
from app.domain.signals import (
    PENDING,
    Action,
    OrderType,
    Signal,
    SignalRecord,
    SignalStatus,
    StopKind,
    StopLoss,
)
from tests.integration.helpers import kill_workers
from tests.paper_helpers import book

pytestmark = pytest.mark.anyio
D = Decimal
SYMBOLS = [f"C{n:02d}/USDT" for n in range(20)]
SETTLE_SECONDS = 60


@dataclass
class Account:
    """One account on a paper venue of 20 symbols (bid 99, ask 101), hosted in this process
    over Redis as the monitor hosts it, and the workers started on it."""

    env: dict[str, str]
    exchange: PaperExchange
    store: SqlExecutionStore
    signals: SqlSignalStore
    redis: redis.Redis
    workers: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start_workers(self, count: int, **limits: str) -> None:
        """`count` worker processes with the risk settings `limits`, registered and waiting."""
        env = {**self.env, **limits}
        for _ in range(count):
            command = (sys.executable, "-m", "app.entrypoints.cli", "worker")
            worker = await asyncio.create_subprocess_exec(*command, env=env, start_new_session=True)
            self.workers.append(worker)
        for _ in range(SETTLE_SECONDS * 50):
            if Worker.count(connection=self.redis) >= count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{count} workers did not start")

    def queue(self, signals: Sequence[Signal], jobs: int) -> list[str]:
        """Keep the signals, received now, and queue them as `jobs` batch jobs at once."""
        now = datetime.now(UTC)
        ids = [f"01JX5Z3K8Q4W2N7R9T1V3B5C{n:02d}" for n in range(len(signals))]
        records = [
            SignalRecord(i, now, SignalStatus.QUEUED, s, "native", f"k{i}")
            for i, s in zip(ids, signals, strict=True)
        ]
        self.signals.add_many(records)
        queue = RqJobQueue(self.redis, "signals")
        per_job = len(ids) // jobs
        for n in range(jobs):
            queue.enqueue_signals(records[n * per_job : (n + 1) * per_job])
        return ids

    async def settled(self, ids: Sequence[str]) -> dict[str, SignalStatus]:
        for _ in range(SETTLE_SECONDS * 20):
            states = self.store.states(ids)
            if all(s.status not in PENDING for s in states.values()):
                return {i: s.status for i, s in states.items()}
            await asyncio.sleep(0.05)
        raise AssertionError(f"signals still queued {SETTLE_SECONDS} s after they were sent")

    def decision(self, signal_id: str) -> str:
        shown = self.signals.get(signal_id)
        assert shown is not None
        return next(s.detail or "" for s in reversed(shown.history) if s.status == "decision")

    async def stop_workers(self) -> None:
        await kill_workers(self.workers)


@pytest.fixture(params=["sqlite_url", "postgres_url"])
async def account(redis_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Account]:
    database_url = request.getfixturevalue(request.param)  # either database, migrated
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": database_url}
    engine = make_engine(database_url)
    books = {s: book("99x1000", "101x1000", symbol=s) for s in SYMBOLS}
    exchange = PaperExchange.open(
        "paper",
        [paper_market(s, D("0.001")) for s in SYMBOLS],
        books.__getitem__,
        lambda: datetime.now(UTC),
        SqlPaperStore(engine),
        balances={"USDT": D(1_000_000)},
    )
    client = redis.asyncio.Redis.from_url(redis_url)
    stop = asyncio.Event()
    host = asyncio.create_task(PaperHost(client, {"paper": exchange}).serve(stop))
    sync = redis.Redis.from_url(redis_url)
    account = Account(env, exchange, SqlExecutionStore(engine), SqlSignalStore(engine), sync)
    yield account
    await account.stop_workers()
    stop.set()
    await asyncio.wait_for(host, 10)
    await client.aclose()
    sync.close()
    engine.dispose()


def entry(symbol: str, **terms: object) -> Signal:
    values: dict[str, object] = {
        "symbol": symbol,
        "action": Action.BUY,
        "source": "tradingview:native",
        "quantity": D(1),
        "stop_loss": StopLoss(StopKind.PRICE, D(90)),
    }
    return Signal(**{**values, **terms})  # type: ignore[arg-type]


async def test_twenty_simultaneous_entries_on_two_workers_open_exactly_the_limit(
    account: Account,
) -> None:
    await account.start_workers(2, MAX_OPEN_POSITIONS="5")
    ids = account.queue([entry(s) for s in SYMBOLS], jobs=2)  # 10 symbols side by side each

    statuses = await account.settled(ids)

    executed = [i for i, status in statuses.items() if status is SignalStatus.EXECUTED]
    denied = [i for i, status in statuses.items() if status is SignalStatus.DENIED]
    assert (len(executed), len(denied)) == (5, 15), statuses
    for signal_id in denied:
        assert "and the limit is 5 (MAX_OPEN_POSITIONS), so no new position in" in (
            account.decision(signal_id)
        )
    assert sorted(b.id for b in account.store.open_brackets()) == sorted(executed)
    stops = await account.exchange.open_orders()  # one stop-loss per position, nothing else
    assert sorted(o.symbol for o in stops) == sorted(
        {b.symbol for b in account.store.open_brackets()}
    )


async def test_ten_resting_limit_buys_of_1000_within_5000_of_exposure_accept_five(
    account: Account,
) -> None:
    await account.start_workers(2, MAX_TOTAL_EXPOSURE="5000", MAX_OPEN_POSITIONS="20")
    limit_buys = [  # 10 at 100 = 1,000 USDT each, resting below the ask of 101
        entry(s, quantity=D(10), order_type=OrderType.LIMIT, limit_price=D(100))
        for s in SYMBOLS[:10]
    ]
    ids = account.queue(limit_buys, jobs=2)

    statuses = await account.settled(ids)

    executed = [i for i, status in statuses.items() if status is SignalStatus.EXECUTED]
    assert len(executed) == 5, statuses
    resting = await account.exchange.open_orders()
    assert len(resting) == 5
    assert all(o.state is OrderState.ACCEPTED and o.price == 100 for o in resting)
    for signal_id in set(ids) - set(executed):
        assert statuses[signal_id] is SignalStatus.DENIED
        assert "entries not filled yet 5,000.00 + this order 1,000.00 = 6,000.00 USDT of" in (
            account.decision(signal_id)
        )


async def test_twenty_simultaneous_entries_on_two_workers_keep_the_order_rate(
    account: Account,
) -> None:
    await account.start_workers(2, MAX_ORDERS_PER_MINUTE="5", MAX_OPEN_POSITIONS="20")
    ids = account.queue([entry(s, stop_loss=None) for s in SYMBOLS], jobs=2)  # no legs

    statuses = await account.settled(ids)

    executed = [i for i, status in statuses.items() if status is SignalStatus.EXECUTED]
    assert len(executed) == 5, statuses
    for signal_id in set(ids) - set(executed):
        assert "reach the limit of 5 (MAX_ORDERS_PER_MINUTE)" in account.decision(signal_id)
