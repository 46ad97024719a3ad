"""Stored connections trade: an account on a connection added with `signalgate connections add`
executes an alert through the real webhook, inbox, forwarder and the worker process's runtime,
on the local fake Binance through unmodified ccxt; once the connection is disabled, the account's
next alert is denied with a sentence while its open bracket keeps its venue. The monitor builds
the stored connections too, and hosts a stored paper connection for the workers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
import redis.asyncio
from cryptography.fernet import Fernet
from litestar.testing import TestClient

from app.adapters.paper.exchange import PAPER_CAPABILITIES
from app.adapters.paper.remote import RemotePaperExchange
from app.adapters.redis import venue_health
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.bootstrap.accounts import build_accounts
from app.bootstrap.connections import build_connections
from app.bootstrap.monitor import run_monitor
from app.bootstrap.stored_venues import StoredVenues
from app.bootstrap.venues import live_venue
from app.bootstrap.web import build_services
from app.bootstrap.worker import WorkerRuntime, worker_runtime
from app.config.settings import Settings
from app.domain.accounts import Account
from app.domain.brackets.bracket import FINAL
from app.domain.connections import NewConnection, VenueKeys
from app.domain.orders import OrderState
from app.domain.signals import SignalStatus
from app.entrypoints.cli.main import main
from app.entrypoints.web.app import create_app
from app.services.connections import ConnectionChange
from tests.fake_binance import API_KEY, API_SECRET, RunningFake
from tests.integration.helpers import eventually, forwarded

SECRET = "s3cret-Hook-Value"
KEY = Fernet.generate_key().decode()
BOUND = 30.0  # a hang, not a speed


def settings_for(redis_url: str, sqlite_url: str) -> Settings:
    return Settings(redis_url=redis_url, database_url=sqlite_url, webhook_secret=SECRET,
                    secrets_keys=(KEY,), monitor_interval_seconds=0.05)  # fmt: skip


def binance(url: str, name: str = "binance_main") -> NewConnection:
    keys = VenueKeys(API_KEY, API_SECRET)
    return NewConnection(name, "binance", "testnet", keys, api_url=url)


@pytest.fixture
def worker(redis_url: str, sqlite_url: str) -> Iterator[WorkerRuntime]:
    runtime = worker_runtime(settings_for(redis_url, sqlite_url))
    yield runtime
    runtime.close()


def alert(client: TestClient[Any], alert_id: str, redis_url: str) -> list[str]:
    body = {"symbol": "BINANCE:BTCUSDT", "action": "buy", "qty": "0.01", "id": alert_id,
            "stop_loss": {"percent": 2}, "secret": SECRET}  # fmt: skip
    answer = client.post("/webhook/trend", content=json.dumps(body)).json()
    ids: list[str] = answer["signal_ids"]
    for signal_id in ids:
        eventually(lambda i=signal_id: forwarded(redis_url, i))
    return ids


def test_an_account_on_a_stored_connection_trades_until_the_connection_is_disabled(
    fake: RunningFake, redis_url: str, sqlite_url: str, worker: WorkerRuntime
) -> None:
    settings = settings_for(redis_url, sqlite_url)
    engine = make_engine(sqlite_url)
    connections = build_connections(settings, engine)
    connections.add(binance(fake.url))
    accounts = build_accounts(settings, engine)
    accounts.add(Account(name="gamma", connections=("binance_main",)))
    accounts.subscribe("trend", "gamma")
    store, signals = SqlExecutionStore(engine), SqlSignalStore(engine)

    with TestClient(create_app(build_services(settings))) as client:
        (first,) = alert(client, "tv-1", redis_url)
        assert worker.execute([first]) == {first: SignalStatus.EXECUTED}, _said(signals, first)
        bracket = store.bracket(first)
        assert bracket is not None
        assert (bracket.account, bracket.venue) == ("gamma", "binance_main")
        (entry,) = fake.venue.orders_with_client_id(bracket.orders[0].client_order_id)
        assert Decimal(entry["executedQty"]) == Decimal("0.01")

        connections.change("binance_main", ConnectionChange(enabled=False))
        assert worker.stored is not None
        worker.stored.forget()  # a worker reads the connections again within REFRESH_SECONDS
        (second,) = alert(client, "tv-2", redis_url)
        assert worker.execute([second]) == {second: SignalStatus.DENIED}

    assert _said(signals, second) == (
        "denied: account gamma has no venue taking entries: connection binance_main is disabled"
        " (`signalgate connections enable binance_main`)"
    )
    assert store.bracket(second) is None
    still = store.bracket(first)
    assert still is not None
    assert still.state not in FINAL  # open, and its venue still there to drive it
    assert "binance_main" in worker.venues
    engine.dispose()


def _said(signals: SqlSignalStore, signal_id: str) -> str:
    shown = signals.get(signal_id)
    assert shown is not None
    return next(s.detail or "" for s in reversed(shown.history) if s.status == "decision")


@pytest.mark.anyio
async def test_the_monitor_builds_stored_connections_and_hosts_a_stored_paper_one(
    fake: RunningFake, redis_url: str, sqlite_url: str
) -> None:
    settings = settings_for(redis_url, sqlite_url)
    engine = make_engine(sqlite_url)
    connections = build_connections(settings, engine)
    connections.add(NewConnection("paper_b", "paper", "paper", VenueKeys()))
    connections.add(binance(fake.url))
    connections.change("binance_main", ConnectionChange(enabled=False))  # still monitored
    client = redis.asyncio.Redis.from_url(redis_url)
    blocking = redis.Redis.from_url(redis_url)
    stop = asyncio.Event()
    task = asyncio.create_task(run_monitor(settings, stop))
    try:
        async with asyncio.timeout(BOUND):
            while not {"paper_b", "binance_main"} <= _monitored(blocking):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        remote = RemotePaperExchange("paper_b", client, capabilities=PAPER_CAPABILITIES)
        markets = await remote.markets()
        assert "BTC/USDT" in markets
        balances = await remote.balances()
        assert balances["USDT"].total == Decimal(50_000)  # a paper connection's default
    finally:
        stop.set()
        await asyncio.wait_for(task, BOUND)
        await client.aclose()
        blocking.close()
        engine.dispose()


def _monitored(client: redis.Redis) -> set[str]:
    """The venues the monitor (this test's only process publishing) reports."""
    return set(venue_health.read(client))


def test_an_order_in_doubt_on_a_stored_connection_is_resolved_on_its_venue(
    fake: RunningFake,
    redis_url: str,
    sqlite_url: str,
    worker: WorkerRuntime,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`signalgate orders resolve` builds the stored connections too: an entry on one whose
    create got no answer (Binance filled it) is settled as the venue reports it."""
    settings = settings_for(redis_url, sqlite_url)
    engine = make_engine(sqlite_url)
    build_connections(settings, engine).add(binance(fake.url))
    accounts = build_accounts(settings, engine)
    accounts.add(Account(name="gamma", connections=("binance_main",)))
    accounts.subscribe("trend", "gamma")
    store = SqlExecutionStore(engine)
    fake.venue.fail_next("POST", "/api/v3/order", "create_then_hang")
    fake.venue.fail_next("GET", "/api/v3/order", "503", count=100)  # every lookup fails
    with TestClient(create_app(build_services(settings))) as client:
        (signal_id,) = alert(client, "tv-1", redis_url)
        worker.execute([signal_id])
    fake.venue.faults.clear()
    bracket = store.bracket(signal_id)
    assert bracket is not None
    cid = bracket.orders[0].client_order_id
    assert bracket.order(cid).state is OrderState.UNKNOWN
    for key, value in {"DATABASE_URL": sqlite_url, "REDIS_URL": redis_url,
                       "SECRETS_KEY": KEY}.items():  # fmt: skip
        monkeypatch.setenv(key, value)

    assert main(["orders", "resolve", cid, "--found"]) == 0, capsys.readouterr().err

    assert "is now filled" in capsys.readouterr().out
    settled = store.bracket(signal_id)
    assert settled is not None
    assert settled.order(cid).state is OrderState.FILLED
    engine.dispose()


def test_two_connections_holding_the_same_key_are_named_in_one_warning(
    fake: RunningFake, redis_url: str, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(sqlite_url)
    connections = build_connections(settings_for(redis_url, sqlite_url), engine)
    for name in ("binance_main", "binance_twin"):
        connections.add(binance(fake.url, name))
    own = VenueKeys("another-key-8c1f7a", API_SECRET)
    connections.add(NewConnection("binance_own", "binance", "testnet", own, api_url=fake.url))
    stored = StoredVenues(connections, live_venue, venues={}, modes={}, shared=())

    with caplog.at_level(logging.WARNING, logger="signalgate.connections"):
        stored.apply(stored.read())
        stored.apply(stored.read())  # read again: said once

    assert [r.getMessage() for r in caplog.records] == [
        "connections binance_main and binance_twin hold the same API key on binance: they are one"
        " exchange account, and reconciliation counts the trades of each as drift of the other;"
        " give each connection keys of its own (a sub-account)"
    ]
    engine.dispose()
