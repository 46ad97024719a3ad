from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import redis

from app.adapters.redis.inbox import ENTRY_PREFIX

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
