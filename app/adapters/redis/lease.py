"""The monitor's lease and heartbeat in Redis.

The lease is one key set with NX and a time to live; its holder's random token is its value, and
only the holder extends it (a Lua compare-and-extend) or deletes it (compare-and-delete), so a
holder that paused past the period cannot take the lease back from its successor. The holder
counts its lease from *before* each request was sent, so by its own clock it stops acting no later
than Redis lets the key expire.
"""

from __future__ import annotations

import secrets
import time
from contextlib import suppress
from typing import Any, cast

import redis
import redis.asyncio
from redis.exceptions import RedisError

LEASE_KEY = "signalgate:monitor:lease"
HEARTBEAT_KEY = "signalgate:monitor:last_round"

_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLease:
    """`Lease` over an asyncio Redis client; a Redis failure counts as not acquired/renewed."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        *,
        period_seconds: float,
        key: str = LEASE_KEY,
        token: str | None = None,
    ) -> None:
        self._client = client
        self._key = key
        self._period = period_seconds
        self.token = token or secrets.token_hex(16)
        self._valid_until = 0.0

    @property
    def period_seconds(self) -> float:
        return self._period

    async def acquire(self) -> bool:
        started = time.monotonic()
        try:
            taken = await self._client.set(self._key, self.token, nx=True, px=self._ms)
        except (RedisError, OSError):
            return False
        if taken:
            self._valid_until = started + self._period
            return True
        return await self.renew()  # ours already (a restart with the same token): extend it

    async def renew(self) -> bool:
        started = time.monotonic()
        try:
            extended = await cast(
                Any, self._client.eval(_EXTEND, 1, self._key, self.token, self._ms)
            )
        except (RedisError, OSError):
            return False
        if extended:
            self._valid_until = started + self._period
            return True
        self._valid_until = 0.0  # someone else holds it: stop at once
        return False

    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    def seconds_left(self) -> float:
        return max(0.0, self._valid_until - time.monotonic())

    async def release(self) -> None:
        self._valid_until = 0.0
        with suppress(RedisError, OSError):  # else it lapses by itself within a period
            await cast(Any, self._client.eval(_DELETE, 1, self._key, self.token))

    @property
    def _ms(self) -> int:
        return max(1, round(self._period * 1000))


class RedisHeartbeat:
    """`Heartbeat`: the wall-clock time (Unix seconds) the last monitor round finished."""

    def __init__(self, client: redis.asyncio.Redis, key: str = HEARTBEAT_KEY) -> None:
        self._client = client
        self._key = key

    async def beat(self) -> None:
        await self._client.set(self._key, repr(time.time()))


def _parse(raw: object) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError:
        return None


async def last_round(client: redis.asyncio.Redis, key: str = HEARTBEAT_KEY) -> float | None:
    """When a monitor last finished a round (Unix seconds), or None if none ever did."""
    return _parse(await client.get(key))


def last_round_sync(client: redis.Redis, key: str = HEARTBEAT_KEY) -> float | None:
    """`last_round` over a blocking client (the metrics are read in a thread)."""
    return _parse(client.get(key))
