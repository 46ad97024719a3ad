"""The forwarders' heartbeat in Redis: the wall-clock time (Unix seconds) a forwarder's loop last
went round. One key for every forwarder: `/ready` and `/metrics` ask whether any is at work."""

from __future__ import annotations

import time

import redis
import redis.asyncio

from app.adapters.redis.errors import unavailable
from app.adapters.redis.lease import last_round, last_round_sync

FORWARDER_KEY = "signalgate:forwarder:last_beat"


class RedisForwarderHeartbeat:
    """`ForwarderHeartbeat` over the forwarder's blocking client."""

    def __init__(self, client: redis.Redis, key: str = FORWARDER_KEY) -> None:
        self._client = client
        self._key = key

    def beat(self) -> None:
        with unavailable("Redis unreachable"):
            self._client.set(self._key, repr(time.time()))


async def last_beat(client: redis.asyncio.Redis) -> float | None:
    """When a forwarder last beat (Unix seconds), or None if none ever did."""
    return await last_round(client, FORWARDER_KEY)


def last_beat_sync(client: redis.Redis) -> float | None:
    """`last_beat` over a blocking client (the metrics are read in a thread)."""
    return last_round_sync(client, FORWARDER_KEY)
