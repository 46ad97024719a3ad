"""`KeyLocks` over Redis: one lock per account and symbol, shared by every worker and the monitor.

A lock is a lease: it expires after `ttl_seconds` unless its holder renews it, which a held lock
does every third of the ttl for as long as the block runs (a lost create with its lookups can
take longer than the ttl; an unrenewed lock then let the monitor drive the same bracket). A
worker killed while holding it blocks its key at most one ttl (`TTL_SECONDS`, 10 s): every job
of that account and symbol waits for it, and an entry received more than
`EXECUTION_MAX_DELAY_SECONDS` before it runs expires, so the ttl is kept short. Nothing rests on
the ttl being longer than a venue's request expiry: the next holder settles an order the dead
one never confirmed by its own two misses, the expiry apart (`app.services.brackets.misses`).
A lease that cannot be renewed (Redis gone, or the key taken after an expiry) is logged at
ERROR.

The holder also knows, without a round trip, when its lease may lapse: the lease is registered
for the block (`app.ports.leases.leased`) and counts as held only while less than two thirds of
the ttl have passed since it was last taken or renewed (by the clock read before the request,
so never later than Redis started the ttl) and no renewal found the key taken. The bracket
driver asks right before each send, so a holder that stalled past its lease sends nothing: a
newer holder may be driving the bracket, and the monitor counts on it (a lost create is settled
as gone after the venue's request expiry, counted from the first miss the monitor saw itself).

Each acquisition also draws the key's fencing token, in the same script (`_ACQUIRE`): the
Redis server's time in microseconds, or one more than the key's last token. A holder whose lease
lapsed unseen (a process paused, Redis out of its reach) still holds its older token, and the
store refuses its saves once a newer holder saved (`ExecutionStore.batch`). Time-based, so that
tokens keep growing across a Redis restart that lost the last one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

import redis
from redis.commands.core import Script
from redis.exceptions import LockError
from redis.lock import Lock

from app.ports.execution import Busy, Fence
from app.ports.leases import leased

log = logging.getLogger("signalgate.locks")

# KEYS: the lock, its fencing counter; ARGV: the holder's lock token, the ttl and the counter's
# lifetime (ms). The token: the server's time in microseconds, or the last one + 1 (`next_token`).
_ACQUIRE = """
if not redis.call('set', KEYS[1], ARGV[1], 'nx', 'px', ARGV[2]) then return 0 end
local now = redis.call('time')
local micros = tonumber(now[1]) * 1000000 + tonumber(now[2])
local fence = math.max(tonumber(redis.call('get', KEYS[2]) or '0') + 1, micros)
redis.call('set', KEYS[2], string.format('%.0f', fence), 'px', ARGV[3])
return fence
"""
TTL_SECONDS = 10.0
_COUNTER_MS = 86_400_000  # a counter left a day is replaced by the clock: no key piles up


class _FencedLock(Lock):
    """redis-py's lock whose acquisition draws the key's fencing token in the same script."""

    def __init__(self, client: redis.Redis, name: str, ttl: float, acquire: Script) -> None:
        super().__init__(client, name, timeout=ttl)
        self._acquire = acquire
        self.fence = 0

    def do_acquire(self, token: str) -> bool:
        assert self.timeout is not None
        keys = [self.name, f"{self.name}:fence"]
        args = [token, int(self.timeout * 1000), _COUNTER_MS]
        fence = int(self._acquire(keys=keys, args=args, client=self.redis))  # type: ignore[arg-type]
        if fence:
            self.fence = fence
        return bool(fence)


class _Lease:
    """`app.ports.leases.Lease` of one held lock: taken or renewed at `renewed_at` (the clock
    read before the request), surely held until two thirds of the ttl after that."""

    def __init__(self, ttl: float, clock: Callable[[], float], taken_at: float) -> None:
        self._bound = ttl * 2 / 3  # a renewal is due every third: one may be missed, not two
        self._clock = clock
        self.renewed_at = taken_at
        self.lost = False  # a renewal found the key expired or taken

    def still_held(self) -> bool:
        return not self.lost and self._clock() - self.renewed_at < self._bound


class RedisKeyLocks:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "signalgate:lock:",
        ttl_seconds: float = TTL_SECONDS,
        wait_seconds: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._wait = wait_seconds
        self._clock = clock  # when leases were taken and renewed
        self._acquire = client.register_script(_ACQUIRE)

    def _lock(self, key: str) -> _FencedLock:
        return _FencedLock(self._client, self._prefix + key, self._ttl, self._acquire)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[Fence]:
        lock = self._lock(key)
        deadline = time.monotonic() + self._wait
        while True:
            taken_at = self._clock()
            if lock.acquire(blocking=False):  # one round trip; the loop keeps running
                break
            if time.monotonic() > deadline:
                raise Busy(f"{key} was held by another worker for over {self._wait:g} s")
            await asyncio.sleep(0.005)
        async with self._renewed(lock, key, taken_at):
            yield Fence(key, lock.fence)

    @asynccontextmanager
    async def try_hold(self, key: str) -> AsyncIterator[Fence | None]:
        lock = self._lock(key)
        taken_at = self._clock()
        if not lock.acquire(blocking=False):
            yield None
            return
        async with self._renewed(lock, key, taken_at):
            yield Fence(key, lock.fence)

    @asynccontextmanager
    async def _renewed(
        self, lock: redis.lock.Lock, key: str, taken_at: float
    ) -> AsyncIterator[None]:
        """Renew the held `lock` every third of its ttl while the block runs, its lease
        registered for the block; release it after."""
        lease = _Lease(self._ttl, self._clock, taken_at)
        renewal = asyncio.create_task(self._renew(lock, key, lease), name=f"lease {key}")
        try:
            with leased(key, lease):
                yield
        finally:
            renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewal
            _release(lock, key)

    async def _renew(self, lock: redis.lock.Lock, key: str, lease: _Lease) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            asked_at = self._clock()
            try:
                lock.reacquire()
                lease.renewed_at = asked_at
            except (LockError, redis.RedisError) as error:
                lease.lost = isinstance(error, LockError)  # not ours any more
                log.exception("the lock of %s could not be renewed: another process may act on "
                              "it now", key)  # fmt: skip
                return


def _release(lock: redis.lock.Lock, key: str) -> None:
    """Free the key. A LockError: it expired while held (the job ran longer than the ttl),
    nothing to free. Redis unreachable: the lease lapses by itself within one ttl, and the job's
    own outcome, not this error, is what its caller must see."""
    with suppress(LockError):
        try:
            lock.release()
        except redis.RedisError:
            log.exception("the lock of %s could not be released: it lapses within its ttl", key)
