from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

import redis
import sqlalchemy

from app.adapters.paper.exchange import PaperExchange
from app.adapters.redis.inbox import ENTRY_PREFIX
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.execution_policy import ExecutionPolicy
from app.domain.paper.venue import PaperVenue
from app.domain.risk_values import RiskLimits
from app.domain.sizing import SizingPolicy
from app.ports.execution import NoLocks
from app.services.execution.executor import Executor
from tests.paper_helpers import book
from tests.unit.test_execution import MARKET

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll until `probe` returns something truthy (the forwarder runs in its own thread)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def forwarded(redis_url: str, signal_id: str) -> bool:
    """The forwarder has moved this signal from the Redis inbox to SQL and the RQ queue (it drops
    the inbox's index of the signal when it acknowledges the entry). `GET /signals/{id}` cannot
    tell: it answers `queued` from the inbox before that."""
    client = redis.Redis.from_url(redis_url)
    try:
        return not client.exists(ENTRY_PREFIX + signal_id)
    finally:
        client.close()


async def kill_workers(processes: Iterable[asyncio.subprocess.Process]) -> None:
    """SIGKILL every worker still running, with its process group (its scheduler): a test that
    failed half-way leaves no worker behind to take later tests' jobs."""
    for process in processes:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


def paper_executor(
    engine: sqlalchemy.Engine, now: datetime, depth: int = 1, policy: ExecutionPolicy | None = None
) -> Executor:
    """An executor on `engine`'s SQL store with one paper venue, "a", whose BTC/USDT book is
    99990 bid, 100000 asked, `depth` BTC each, at the clock `now`."""
    books = {"BTC/USDT": book(f"99990x{depth}", f"100000x{depth}")}
    venue = PaperExchange(PaperVenue("a", [MARKET]), lambda symbol: books[symbol], lambda: now)
    return Executor(
        store=SqlExecutionStore(engine), venues={"a": venue}, modes={"a": "paper"},
        clock=lambda: now, locks=NoLocks(), limits=RiskLimits(), sizing=SizingPolicy(),
        policy=policy,
    )  # fmt: skip
