"""`KeyLocks` over Redis: one lock per account and symbol, shared by every worker and the monitor.

A lock expires after `ttl_seconds` so a worker killed while holding it blocks its key only that
long; the ttl is longer than any venue keeps a lost request executable, so a job resumed after the
expiry can trust a "no such order" answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import redis
from redis.exceptions import LockError

from app.ports.execution import Busy


class RedisKeyLocks:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "signalgate:lock:",
        ttl_seconds: float = 30.0,
        wait_seconds: float = 20.0,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._wait = wait_seconds

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._client.lock(self._prefix + key, timeout=self._ttl)
        deadline = time.monotonic() + self._wait
        while not lock.acquire(blocking=False):  # one round trip; the loop keeps running
            if time.monotonic() > deadline:
                raise Busy(f"{key} was held by another worker for over {self._wait:g} s")
            await asyncio.sleep(0.005)
        try:
            yield
        finally:
            _release(lock)

    @asynccontextmanager
    async def try_hold(self, key: str) -> AsyncIterator[bool]:
        lock = self._client.lock(self._prefix + key, timeout=self._ttl)
        held = lock.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                _release(lock)


def _release(lock: redis.lock.Lock) -> None:
    # a LockError: it expired while held (the job ran longer than the ttl); nothing to free
    with suppress(LockError):
        lock.release()
