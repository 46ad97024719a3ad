"""The forwarder queues the jobs of the inbox's first deliveries without looking for them first
(a Redis round trip less on every alert's road), and looks for those of entries delivered again
(a forward that failed before acknowledging them): their jobs are not queued twice. Real Redis
and SQLite."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.client

from app.adapters.queue_rq import RqJobQueue
from app.adapters.redis.inbox import RedisInbox, RedisInboxReader
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.system import SystemClock, new_ulid
from app.config.settings import Settings
from app.domain.signals import Action, Signal
from app.ports.errors import Unavailable
from app.services.intake import Intake, forward


async def submitted(redis_url: str, store: SqlSignalStore, number: int) -> str:
    client = redis.asyncio.Redis.from_url(redis_url)
    intake = Intake(RedisInbox(client), store, SystemClock(), new_ulid, Settings().intake)
    try:
        signal = Signal(symbol="BTC/USDT", action=Action.BUY, source="test", alert_id=f"a{number}")
        kept = await intake.submit(signal, dialect="json")
    finally:
        await client.aclose()
    assert kept.status == "queued"
    return kept.signal_id


@pytest.fixture
def looked_up(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys the forwarder's queue looks for (its pipelined EXISTS)."""
    keys: list[str] = []
    exists = redis.client.Pipeline.exists

    def spied(self: redis.client.Pipeline, *names: Any) -> Any:
        keys.extend(str(n) for n in names)
        return exists(self, *names)

    monkeypatch.setattr(redis.client.Pipeline, "exists", spied)
    return keys


def test_first_deliveries_go_without_a_lookup_and_redeliveries_with_one(
    redis_url: str, sqlite_url: str, looked_up: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(sqlite_url)
    client = redis.Redis.from_url(redis_url)
    store = SqlSignalStore(engine)
    reader, queue = RedisInboxReader(client), RqJobQueue(client, "signals")
    try:
        first = asyncio.run(submitted(redis_url, store, 1))
        assert forward(reader, store, queue) == 1
        assert looked_up == []  # a first delivery: no job of its can be queued yet
        assert queue.queue.job_ids == [f"signal-{first}"]

        # queued, then the acknowledgement fails: the entry is delivered again
        second = asyncio.run(submitted(redis_url, store, 2))
        ack = reader.ack

        def refused(entry_ids: Any) -> None:
            raise Unavailable("Redis went away")

        monkeypatch.setattr(reader, "ack", refused)
        with pytest.raises(Unavailable):
            forward(reader, store, queue)
        monkeypatch.setattr(reader, "ack", ack)
        assert forward(reader, store, queue) == 1

        assert looked_up == [f"rq:job:signal-{second}"]  # looked for, found: kept
        assert queue.queue.job_ids == [f"signal-{first}", f"signal-{second}"]
        assert forward(reader, store, queue) == 0  # acknowledged this time
    finally:
        client.close()
        engine.dispose()
