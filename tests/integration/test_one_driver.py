"""One driver per bracket: a venue stalls the entry's create longer than the account-and-symbol
lock's ttl while the monitor runs, on the local fake Binance through unmodified ccxt, with the
worker and the monitor each on a store, a venue client and a Redis client of its own (two
processes). The lease and the stall are scaled down: 45 s against a 30 s lease becomes
`STALL` against `TTL`.

When the worker keeps its lease (renewed), the monitor stays out. When the lease lapses unseen
(Redis out of the worker's reach while the create stalls), the monitor takes the key with a
newer fencing token and protects the entry; the worker's save after the late answer is refused
and it sends nothing more. Either way: one entry, one stop-loss resting, nothing else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.redis.locks import RedisKeyLocks
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg, OrderState, client_order_id
from app.domain.risk_values import RiskLimits
from app.domain.signals import SignalRecord, SignalStatus
from app.domain.sizing import SizingPolicy
from app.ports.errors import StaleBracket
from app.services.brackets.driver import BracketDriver
from app.services.brackets.monitor import BracketMonitor
from app.services.execution.executor import Executor
from tests.fake_binance import API_KEY, API_SECRET, RunningFake
from tests.integration.test_execution_ccxt import FAST, ORDER, buy_alert, now

pytestmark = pytest.mark.anyio
TTL = 0.4  # the lock's lease (30 s in production)
STALL = TTL * 45 / 30  # how long the venue sits on the create (45 s against 30)
SIGNAL = "01KA0000000000000000000001"


class ReachableRedis(redis.Redis):
    """A Redis client whose connection a test can cut (a network partition)."""

    cut = False

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.cut:
            raise redis.ConnectionError("Redis is out of this process's reach")
        return super().execute_command(*args, **options)


def binance(fake: RunningFake) -> CcxtExchange:
    return CcxtExchange(
        "binance",
        mode="testnet",
        api_key=API_KEY,
        secret=API_SECRET,
        base_url=fake.url,
        timeout_ms=10_000,  # the stalled answer arrives: no lost-create protocol here
        retry=FAST,
    )


@dataclass
class TwoProcesses:
    fake: RunningFake
    worker_redis: ReachableRedis
    executor: Executor
    monitor: BracketMonitor
    store: SqlExecutionStore  # the monitor's: what the book holds

    def on_venue(self, leg: Leg) -> list[dict[str, Any]]:
        return self.fake.venue.orders_with_client_id(client_order_id(SIGNAL, leg))

    @asynccontextmanager
    async def monitor_running(self) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(self.monitor.run(stop))
        try:
            yield
        finally:
            stop.set()
            await task


@pytest.fixture
async def processes(
    fake: RunningFake, database: str, redis_url: str
) -> AsyncIterator[TwoProcesses]:
    engine = make_engine(database)
    worker_redis = ReachableRedis.from_url(redis_url)
    monitor_redis = redis.Redis.from_url(redis_url)
    worker_venue, monitor_venue = binance(fake), binance(fake)
    worker_store, monitor_store = SqlExecutionStore(engine), SqlExecutionStore(engine)
    executor = Executor(
        store=worker_store,
        venues={"binance": worker_venue},
        modes={"binance": "testnet"},
        clock=now,
        locks=RedisKeyLocks(worker_redis, ttl_seconds=TTL),
        limits=RiskLimits(),
        sizing=SizingPolicy(),
    )
    monitor = BracketMonitor(
        store=monitor_store,
        venues={"binance": monitor_venue},
        driver=BracketDriver(monitor_store, now),
        locks=RedisKeyLocks(monitor_redis, ttl_seconds=TTL),
        interval_seconds=0.05,
    )
    record = SignalRecord(SIGNAL, now(), SignalStatus.QUEUED, buy_alert(), "native", SIGNAL)
    SqlSignalStore(engine).add_many([record])
    yield TwoProcesses(fake, worker_redis, executor, monitor, monitor_store)
    for venue in (worker_venue, monitor_venue):
        await venue.close()
    for client in (worker_redis, monitor_redis):
        client.close()
    engine.dispose()


def assert_one_entry_and_one_stop_loss(processes: TwoProcesses) -> None:
    """What Binance holds: the filled entry and its resting stop-loss, and no other order."""
    (entry,) = processes.on_venue(Leg.ENTRY)
    (stop,) = processes.on_venue(Leg.STOP_LOSS)
    assert (entry["type"], entry["status"]) == ("MARKET", "FILLED")
    assert (stop["type"], stop["status"]) == ("STOP_LOSS", "NEW")
    assert len(processes.fake.venue.order_book()) == 2
    bracket = processes.store.bracket(SIGNAL)
    assert bracket is not None
    assert bracket.state is BracketState.OPEN
    ours = {order.leg: order for order in bracket.orders}
    assert ours[Leg.STOP_LOSS].order_id == str(stop["orderId"])
    assert ours[Leg.STOP_LOSS].state is OrderState.ACCEPTED
    assert ours[Leg.ENTRY].state is OrderState.FILLED


async def test_a_create_stalled_past_the_lease_leaves_one_entry_and_one_stop_loss(
    processes: TwoProcesses,
) -> None:
    """The issue's case as it stands with a renewed lease: the monitor runs all along, finds
    the key held and leaves the bracket to the worker."""
    venue = processes.fake.venue
    venue.hang_seconds = STALL
    venue.fail_next("POST", ORDER, "slow")
    async with processes.monitor_running():
        assert await processes.executor.execute(SIGNAL) is SignalStatus.EXECUTED
        rounds = processes.monitor.failed_rounds
    assert rounds == 0
    assert_one_entry_and_one_stop_loss(processes)


async def test_a_worker_whose_lease_lapsed_during_a_stalled_create_sends_nothing_more(
    processes: TwoProcesses, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis is out of the worker's reach while Binance sits on its create: its renewals fail
    and its lease lapses; the monitor takes the key with a newer fencing token, finds the entry
    filled by its client order id and rests the stop-loss. Then the create's answer reaches
    the worker: its save is refused (its bracket moved on) and it places nothing. The job's
    retry resumes the signal and places nothing either."""
    venue, worker_redis = processes.fake.venue, processes.worker_redis
    venue.hang_seconds = 30  # at most: released once the monitor acted

    def partition() -> None:
        worker_redis.cut = True

    def heal() -> None:  # as the monitor's stop-loss reaches Binance
        worker_redis.cut = False
        venue.release_hung()

    venue.fail_next("POST", ORDER, "slow")
    venue.before_next("POST", ORDER, partition)  # the entry
    venue.before_next("POST", ORDER, heal)  # the next order sent: the monitor's stop-loss
    with caplog.at_level(logging.ERROR):
        async with processes.monitor_running():
            with pytest.raises(StaleBracket, match=f"bracket {SIGNAL} .* was saved again"):
                await processes.executor.execute(SIGNAL)
    assert_one_entry_and_one_stop_loss(processes)
    stale = [r for r in caplog.records if r.getMessage().startswith("STALE")]
    assert [r.levelno for r in stale] == [logging.ERROR]
    assert "could not be renewed" in caplog.text

    # the job's retry (RQ) resumes the signal: the bracket is open and protected already
    assert await processes.executor.execute(SIGNAL) is SignalStatus.EXECUTED
    assert await processes.monitor.run_once() == 0
    assert_one_entry_and_one_stop_loss(processes)
    assert venue.count("POST", ORDER) == 2
