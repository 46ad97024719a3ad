"""Exactly one monitor: the Redis lease, a standby taking over, a holder that loses its lease;
and the monitor's heartbeat on /ready and /metrics. Over the real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.adapters.redis.lease import HEARTBEAT_KEY, LEASE_KEY, RedisLease, last_round
from app.bootstrap.monitor import LEASE_SECONDS, MonitorDied, run_monitor
from app.config.settings import Settings
from app.services.brackets.monitor import BracketMonitor
from tests.integration.test_web_ops import AUTH, scrape
from tests.integration.test_webhook_http import make_client

BOUND = 30.0  # a hang, not a speed: every wait below ends far sooner


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def until(probe: Any) -> None:
    async with asyncio.timeout(BOUND):
        while not await probe():  # noqa: ASYNC110 - polling Redis and the logs
            await asyncio.sleep(0.02)


@pytest.mark.anyio
async def test_one_holder_at_a_time_and_only_the_holder_renews_or_releases(
    client: redis.asyncio.Redis,
) -> None:
    first = RedisLease(client, period_seconds=0.3)
    second = RedisLease(client, period_seconds=0.3)
    assert await first.acquire() is True
    assert first.held()
    assert await second.acquire() is False
    assert await second.renew() is False
    assert not second.held()
    await second.release()  # not its lease: nothing happens
    assert await client.get(LEASE_KEY) == first.token.encode()
    assert await first.renew() is True
    await asyncio.sleep(0.35)  # no renewal: the lease lapses, by both clocks
    assert not first.held()
    assert await second.acquire() is True
    assert await first.renew() is False  # the old holder cannot take it back
    assert not first.held()
    await second.release()
    assert await client.get(LEASE_KEY) is None
    assert await first.acquire() is True


@pytest.mark.anyio
async def test_a_holder_cut_off_from_redis_stops_holding_when_its_period_ends(
    redis_url: str,
) -> None:
    target = redis.asyncio.Redis.from_url(redis_url).connection_pool.connection_kwargs
    proxy = await Proxy.start(target["host"], target["port"])
    client = redis.asyncio.Redis(
        port=proxy.port,
        db=target.get("db", 0),
        socket_timeout=0.2,
        socket_connect_timeout=0.2,
        retry=Retry(NoBackoff(), 0),  # as the monitor's lease client: one try per renewal
    )
    lease = RedisLease(client, period_seconds=0.3)
    assert await lease.acquire()
    await proxy.cut()  # Redis is gone from here on
    assert await lease.renew() is False  # not renewed, and never an error
    assert lease.held()  # still within the period it was granted
    assert 0 < lease.seconds_left() <= 0.3
    await asyncio.sleep(0.35)
    assert not lease.held()
    assert lease.seconds_left() == 0
    assert await lease.acquire() is False
    await client.aclose()


class Proxy:
    """A TCP relay to Redis that a test can cut, as a network outage would."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.target = host, port
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    @classmethod
    async def start(cls, host: str, port: int) -> Proxy:
        proxy = cls(host, port)
        proxy.server = await asyncio.start_server(proxy._relay, "127.0.0.1", 0)
        proxy.port = proxy.server.sockets[0].getsockname()[1]
        return proxy

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.target)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()


def settings_for(redis_url: str, sqlite_url: str) -> Settings:
    return Settings(redis_url=redis_url, database_url=sqlite_url, monitor_interval_seconds=0.05)


@pytest.mark.anyio
async def test_a_standby_monitor_waits_says_so_once_and_takes_over_when_the_lease_is_free(
    client: redis.asyncio.Redis,
    redis_url: str,
    sqlite_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    holder = RedisLease(client, period_seconds=LEASE_SECONDS)
    assert await holder.acquire()
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, "signalgate"):
        task = asyncio.create_task(run_monitor(settings_for(redis_url, sqlite_url), stop))
        for _ in range(3):  # several renewals of the other holder
            await asyncio.sleep(LEASE_SECONDS / 3)
            assert await holder.renew()
        assert await client.get(HEARTBEAT_KEY) is None  # the standby ran no round
        await holder.release()  # the other monitor stops
        await until(lambda: _beats(client))
        waits = [r for r in caplog.records if "standing by" in r.getMessage()]
        assert [r.levelno for r in waits] == [logging.INFO]
        stop.set()
        await asyncio.wait_for(task, BOUND)
    assert await client.get(LEASE_KEY) is None  # released on the way out


async def _beats(client: redis.asyncio.Redis) -> bool:
    return await last_round(client) is not None


@pytest.mark.anyio
async def test_a_monitor_that_loses_its_lease_stops_its_rounds_and_stands_by(
    client: redis.asyncio.Redis,
    redis_url: str,
    sqlite_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, "signalgate"):
        task = asyncio.create_task(run_monitor(settings_for(redis_url, sqlite_url), stop))
        await until(lambda: _beats(client))
        await client.set(LEASE_KEY, "another-monitor", px=60_000)  # taken over meanwhile
        await until(_lost(caplog))
        await client.delete(HEARTBEAT_KEY)
        await asyncio.sleep(LEASE_SECONDS / 2)  # a round every 0.05 s if it still acted
        assert await client.get(HEARTBEAT_KEY) is None
        assert not task.done()  # a standby again, not gone
        stop.set()
        await asyncio.wait_for(task, BOUND)
    assert await client.get(LEASE_KEY) == b"another-monitor"  # not its lease to release


def _lost(caplog: pytest.LogCaptureFixture) -> Any:
    async def probe() -> bool:
        return any("lost the lease" in r.getMessage() for r in caplog.records)

    return probe


def test_ready_names_a_missing_or_stale_monitor_without_deciding_its_status(
    redis_url: str, sqlite_url: str
) -> None:
    store = redis.Redis.from_url(redis_url)
    with make_client(redis_url, sqlite_url, monitor_interval_seconds=0.5) as http:
        said = http.get("/ready").json()["processes"]["monitor"]
        assert said.startswith("no monitor has finished a round yet: nothing keeps brackets")
        store.set(HEARTBEAT_KEY, repr(time.time() - 4))  # 8 intervals ago
        assert http.get("/ready").json()["processes"]["monitor"] == "ok"
        store.set(HEARTBEAT_KEY, repr(time.time() - 60))
        answer = http.get("/ready")
        assert (answer.status_code, answer.json()["status"]) == (200, "ready")
        said = answer.json()["processes"]["monitor"]
        assert said.startswith("no monitor round has finished for 60 s (over 5 s)")
        assert "`signalgate monitor`" in said
    with make_client(redis_url, sqlite_url, monitor_interval_seconds=2) as http:
        store.set(HEARTBEAT_KEY, repr(time.time() - 12))  # 6 intervals of 2 s: not yet
        assert http.get("/ready").json()["processes"]["monitor"] == "ok"
    store.close()


def test_metrics_show_when_the_monitor_last_finished_a_round(
    redis_url: str, sqlite_url: str
) -> None:
    store = redis.Redis.from_url(redis_url)
    with make_client(redis_url, sqlite_url) as http:
        assert "signalgate_monitor_last_round_timestamp_seconds" not in scrape(http)
        store.set(HEARTBEAT_KEY, "1764979200.25")
        shown = scrape(http)["signalgate_monitor_last_round_timestamp_seconds"]
        assert shown == {(): 1764979200.25}
        assert http.get("/metrics", headers=AUTH).status_code == 200
    store.close()


@pytest.mark.anyio
async def test_a_dead_bracket_monitor_ends_the_monitor_process_with_an_error(
    client: redis.asyncio.Redis,
    redis_url: str,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def dies(self: BracketMonitor, stop: asyncio.Event) -> None:
        raise RuntimeError("a bug outside any round")

    monkeypatch.setattr(BracketMonitor, "run", dies)
    with pytest.raises(MonitorDied, match="bracket-monitor died") as died:
        await asyncio.wait_for(run_monitor(settings_for(redis_url, sqlite_url), asyncio.Event()),
                               BOUND)  # fmt: skip
    assert isinstance(died.value.__cause__, RuntimeError)
    assert await client.get(LEASE_KEY) is None  # freed: a standby takes over at once
