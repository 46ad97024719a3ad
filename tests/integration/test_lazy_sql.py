"""The web process's SQL is built on first use (app/bootstrap/lazy_sql.py): once, whichever
thread asks first, and an alert that Redis cannot take is still spooled (real SQLite)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import redis.asyncio
from sqlalchemy import Engine

import app.bootstrap.database
from app.adapters.redis.inbox import RedisInbox
from app.adapters.redis.server import free_port
from app.adapters.system import SystemClock, new_ulid
from app.bootstrap.accounts import opened_accounts
from app.bootstrap.lazy_sql import LazySql
from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.domain.accounts import Account
from app.domain.signals import Action, Signal
from app.ports.errors import Unavailable
from app.services.intake import Intake, Submitted


async def submitted(
    lazy: LazySql, redis_url: str, signal: Signal, *, subscribed: bool = False
) -> Submitted:
    """`signal` submitted to an intake over `lazy` and the Redis at `redis_url`; `subscribed`:
    fanned out to the accounts `lazy` reads."""
    client = redis.asyncio.Redis.from_url(redis_url, socket_connect_timeout=1.0)
    intake = Intake(RedisInbox(client), lazy, SystemClock(), new_ulid, Settings().intake,
                    subscribers=lazy if subscribed else None)  # fmt: skip
    try:
        return await intake.submit(signal, dialect="json")
    finally:
        await client.aclose()


def test_services_build_no_sql_until_asked(sqlite_url: str):
    services = build_services(Settings(redis_url="redis://127.0.0.1:1/0", database_url=sqlite_url))
    assert not services.signals.built
    assert services.engine is services.engine  # built by the first ask, kept
    assert services.signals.built
    services.signals.dispose()


def test_a_warm_up_racing_first_uses_builds_one_engine(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
):
    built: list[Engine] = []
    build = app.bootstrap.database.process_engine

    def counted(settings: Settings) -> Engine:
        built.append(build(settings))
        return built[-1]

    monkeypatch.setattr(app.bootstrap.database, "process_engine", counted)
    lazy = LazySql(Settings(database_url=sqlite_url))
    start = threading.Barrier(5)
    seen: list[object] = []

    def first_use() -> None:
        start.wait()
        seen.append(lazy.get("no-such-signal"))

    readers = [threading.Thread(target=first_use) for _ in range(4)]
    for reader in readers:
        reader.start()
    start.wait()
    lazy.warm_up()
    for reader in readers:
        reader.join(30)
    lazy.dispose()
    assert seen == [None] * 4
    assert len(built) == 1


def test_the_first_alert_redis_cannot_take_builds_the_store_and_is_spooled(sqlite_url: str):
    lazy = LazySql(Settings(database_url=sqlite_url))

    signal = Signal(symbol="BTC/USDT", action=Action.BUY, source="test")
    done = asyncio.run(submitted(lazy, f"redis://127.0.0.1:{free_port()}/0", signal))
    status, signal_id = done.status, done.signal_id
    assert status == "spooled"
    assert signal_id is not None
    kept = lazy.get(signal_id)
    assert kept is not None
    assert kept.status == "spooled"
    assert [record.id for record in lazy.spooled(10)] == [signal_id]
    lazy.dispose()


def test_an_unreachable_database_is_said_on_first_use(tmp_path: Path):
    lazy = LazySql(Settings(database_url=f"sqlite:///{tmp_path}/missing/dir/db.sqlite"))
    lazy.warm_up()  # logs at DEBUG, raises nothing
    with pytest.raises(Unavailable):
        lazy.ping()
    lazy.dispose()


def test_the_first_alert_that_asks_for_subscribers_builds_the_directory(sqlite_url: str):
    lazy = LazySql(Settings(database_url=sqlite_url))
    assert not lazy.built
    assert asyncio.run(lazy.accounts_for("momentum", "default")) == ()  # no subscriber
    assert lazy.built
    lazy.dispose()


def test_a_start_without_the_database_fans_alerts_out_on_the_accounts_last_kept(
    sqlite_url: str, redis_url: str, tmp_path: Path
):
    with opened_accounts(Settings(database_url=sqlite_url)) as accounts:
        accounts.add(Account(name="alpha"))
        accounts.subscribe("trend", "alpha")
    before = LazySql(Settings(database_url=sqlite_url, redis_url=redis_url))
    assert asyncio.run(before.accounts_for("trend", "default")) == ("alpha",)  # read and kept
    before.dispose()
    # the web process restarts while the database does not answer
    down = Settings(database_url=f"sqlite:///{tmp_path}/missing/dir/db.sqlite", redis_url=redis_url)
    after = LazySql(down)

    signal = Signal(symbol="BTC/USDT", action=Action.BUY, source="test", strategy="trend")
    done = asyncio.run(submitted(after, redis_url, signal, subscribed=True))
    after.dispose()
    assert done.status == "queued"
    assert len(done.signal_ids) == 1  # alpha's copy


def test_a_start_without_the_database_and_nothing_kept_is_unavailable(
    redis_url: str, tmp_path: Path
):
    lazy = LazySql(Settings(database_url=f"sqlite:///{tmp_path}/missing/db.sqlite",
                            redis_url=redis_url))  # fmt: skip
    with pytest.raises(Unavailable):
        asyncio.run(lazy.accounts_for("trend", "default"))
    lazy.dispose()
