"""The forwarder's heartbeat in Redis: the wall-clock time (Unix seconds) a forwarder last went
round its loop. One key for all forwarders: `/ready` asks whether any of them is at work."""

from __future__ import annotations

import time

import redis
import redis.asyncio
from redis.exceptions import RedisError

from app.adapters.redis.lease import last_round
from app.ports.errors import Unavailable

FORWARDER_KEY = "signalgate:forwarder:last_beat"


class RedisForwarderHeartbeat:
    """`Heartbeat` over a blocking client (the forwarder's loop is blocking)."""

    def __init__(self, client: redis.Redis, key: str = FORWARDER_KEY) -> None:
        self._client = client
        self._key = key

    def beat(self) -> None:
        try:
            self._client.set(self._key, repr(time.time()))
        except (RedisError, OSError) as exc:
            raise Unavailable(str(exc)) from exc


async def last_beat(client: redis.asyncio.Redis, key: str = FORWARDER_KEY) -> float | None:
    """When a forwarder last beat (Unix seconds), or None if none ever did."""
    return await last_round(client, key)
