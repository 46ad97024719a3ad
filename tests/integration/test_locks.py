"""The per-(account, symbol) lock is a lease its holder renews: a long hold keeps it; and every
holder gets a fencing token larger than every earlier holder's of the key."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis

from app.adapters.redis.locks import RedisKeyLocks
from app.domain.execution_policy import ExecutionPolicy

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
                    seen.append(held is not None)
        async with monitor.try_hold("acct:BTC/USDT") as held:
            seen.append(held is not None)
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


def test_every_holder_of_a_key_gets_a_larger_fencing_token(client: redis.Redis) -> None:
    worker, monitor = RedisKeyLocks(client, ttl_seconds=TTL), RedisKeyLocks(client, ttl_seconds=TTL)

    async def scenario() -> list[int]:
        tokens = []
        for _ in range(3):
            async with worker.hold("acct:BTC/USDT") as fence:
                tokens.append(fence.token)
            async with monitor.try_hold("acct:BTC/USDT") as held:
                assert held is not None
                tokens.append(held.token)
        return tokens

    tokens = asyncio.run(scenario())
    assert tokens == sorted(set(tokens))
    assert tokens[0] > 0


def test_a_holder_whose_lease_lapsed_holds_the_older_token(client: redis.Redis) -> None:
    """The worker's lease lapses unseen (here: Redis loses its key, as a restart without its
    data would, the fencing counter with it); the monitor takes the key with a newer token."""
    worker, monitor = RedisKeyLocks(client, ttl_seconds=TTL), RedisKeyLocks(client, ttl_seconds=TTL)

    async def scenario() -> tuple[int, int]:
        async with worker.hold("acct:BTC/USDT") as stale:
            client.flushdb()
            async with monitor.try_hold("acct:BTC/USDT") as newer:
                assert newer is not None
                return stale.token, newer.token

    stale, newer = asyncio.run(scenario())
    assert newer > stale


def test_a_release_that_cannot_reach_redis_leaves_the_job_its_own_outcome(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis gone when the block ends: the lease lapses by itself after its ttl; the job's own
    result (here its error) is what the caller sees, and the failed release is logged."""
    lost = redis.Redis.from_url(redis_url, socket_connect_timeout=0.2)
    locks = RedisKeyLocks(lost, ttl_seconds=TTL)

    async def scenario() -> None:
        async with locks.hold("acct:ETH/USDT"):
            lost.connection_pool.connection_kwargs["port"] = 1  # nothing listens there
            lost.connection_pool.reset()  # the pooled connections to the real server are dropped
            raise ValueError("the job's own outcome")

    with caplog.at_level(logging.ERROR), pytest.raises(ValueError, match="own outcome"):
        asyncio.run(scenario())
    assert "could not be released" in caplog.text
    lost.close()


def test_a_dead_holders_key_frees_well_before_queued_entries_expire(client: redis.Redis) -> None:
    """A holder SIGKILLed mid-job leaves its key taken until the ttl ends, and every job of that
    account and symbol waits behind it: with the default ttl the key frees within a third of the
    default `EXECUTION_MAX_DELAY_SECONDS` (a 30 s ttl let the fault run expire most entries)."""
    locks = RedisKeyLocks(client)

    async def scenario() -> int:
        async with locks.hold("acct:SOL/USDT"):
            return int(client.pttl("signalgate:lock:acct:SOL/USDT"))

    left_ms = asyncio.run(scenario())
    assert 0 < left_ms <= ExecutionPolicy().max_delay_seconds * 1000 / 3
