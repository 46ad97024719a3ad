"""The Redis clients of the trading processes (light: no venue library)."""

from __future__ import annotations

import redis
import redis.asyncio


def sync_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10.0, socket_connect_timeout=2.0)


def async_redis(url: str, timeout: float = 10.0) -> redis.asyncio.Redis:
    # the paper client waits up to its own timeout for a reply: the socket must wait longer
    return redis.asyncio.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=2.0)
