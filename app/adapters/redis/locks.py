"""`KeyLocks` over Redis: one lock per account and symbol, shared by every worker and the monitor.

A lock is a lease: it expires after `ttl_seconds` unless its holder renews it, which a held lock
does every third of the ttl for as long as the block runs (a lost create with its lookups can
take longer than the ttl; an unrenewed lock then let the monitor drive the same bracket). A
worker killed while holding it blocks its key at most one ttl; the ttl is longer than any venue
keeps a lost request executable, so a job resumed after the expiry can trust a "no such order"
answer. A lease that cannot be renewed (Redis gone, or the key taken after an expiry) is logged
at ERROR.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import redis
from redis.exceptions import LockError

from app.ports.execution import Busy

log = logging.getLogger("signalgate.locks")


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
        async with self._renewed(lock, key):
            yield

    @asynccontextmanager
    async def try_hold(self, key: str) -> AsyncIterator[bool]:
        lock = self._client.lock(self._prefix + key, timeout=self._ttl)
        if not lock.acquire(blocking=False):
            yield False
            return
        async with self._renewed(lock, key):
            yield True

    @asynccontextmanager
    async def _renewed(self, lock: redis.lock.Lock, key: str) -> AsyncIterator[None]:
        """Renew the held `lock` every third of its ttl while the block runs; release it after."""
        renewal = asyncio.create_task(self._renew(lock, key), name=f"lease {key}")
        try:
            yield
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            _release(lock)

    async def _renew(self, lock: redis.lock.Lock, key: str) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                lock.reacquire()
            except (LockError, redis.RedisError):
                log.exception("the lock of %s could not be renewed: another process may act on "
                              "it now", key)  # fmt: skip
                return


def _release(lock: redis.lock.Lock) -> None:
    # a LockError: it expired while held (the job ran longer than the ttl); nothing to free
    with suppress(LockError):
        lock.release()
