"""The per-(account, symbol) lock is a lease its holder renews: a long hold keeps it."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis

from app.adapters.redis.locks import RedisKeyLocks

TTL = 0.6


@pytest.fixture
def client(redis_url: str):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def test_a_hold_longer_than_the_ttl_keeps_the_key(client: redis.Redis) -> None:
    worker, monitor = RedisKeyLocks(client, ttl_seconds=TTL), RedisKeyLocks(client, ttl_seconds=TTL)

    async def scenario() -> list[bool]:
        seen = []
        async with worker.hold("acct:BTC/USDT"):
            for _ in range(4):  # 4 x ttl: an unrenewed lease would have expired three times
                await asyncio.sleep(TTL)
                async with monitor.try_hold("acct:BTC/USDT") as held:
                    seen.append(held)
        async with monitor.try_hold("acct:BTC/USDT") as held:
            seen.append(held)
        return seen

    assert asyncio.run(scenario()) == [False, False, False, False, True]


def test_a_lease_that_cannot_be_renewed_is_logged(
    client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    locks = RedisKeyLocks(client, ttl_seconds=TTL)

    async def scenario() -> None:
        async with locks.hold("acct:ETH/USDT"):
            client.delete("signalgate:lock:acct:ETH/USDT")  # expired and taken meanwhile
            await asyncio.sleep(TTL)

    with caplog.at_level(logging.ERROR, logger="signalgate.locks"):
        asyncio.run(scenario())
    assert "acct:ETH/USDT could not be renewed" in caplog.text
