"""Orders in doubt on the local fake Binance through unmodified ccxt, with the venue profile's
request expiry removed (as OKX, Bitget, Gate, KuCoin, Kraken, Coinbase and Crypto.com have none):
a create whose answer is lost is never sent again above the adapter, its bracket holds the
symbol's entries back, and `signalgate orders resolve` settles it both ways."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal

import anyio
import pytest
import sqlalchemy

from app.adapters.paper.exchange import PaperExchange
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.brackets.bracket import Bracket, BracketState, LegOrder
from app.domain.execution_policy import EntryPolicy, ExecutionPolicy
from app.domain.market import Market
from app.domain.orders import Leg, OrderKind, OrderState, Side, client_order_id
from app.domain.paper.venue import PaperVenue
from app.domain.signals import (
    SignalRecord,
    SignalStatus,
)
from app.entrypoints.cli.main import main
from app.services.brackets.driver import BracketDriver
from tests.fake_binance import API_KEY, API_SECRET, RunningFake
from tests.integration.test_execution_ccxt import (
    FAST,
    ORDER,
    Deployment,
    buy_alert,
    deployed,
    now,
)
from tests.integration.test_web_ops import scrape
from tests.integration.test_webhook_http import make_client
from tests.paper_helpers import book

pytestmark = pytest.mark.anyio
D = Decimal


@pytest.fixture
async def deployment(
    fake: RunningFake, sqlite_url: str, redis_url: str
) -> AsyncIterator[Deployment]:
    """A Binance whose requests never expire, with ENTRY_POLICY=add: brackets may stack, so
    only the doubt holds a second entry back."""
    policy = ExecutionPolicy(entry_policy=EntryPolicy.ADD)
    async with deployed(fake, sqlite_url, redis_url, policy=policy, expiry=False) as running:
        yield running


def steps(deployment: Deployment, signal_id: str) -> dict[str, str]:
    shown = deployment.signals.get(signal_id)
    assert shown is not None
    return {step.status: step.detail or "" for step in shown.history}


async def lost_entry(deployment: Deployment, fault: str = "hang") -> str:
    """A buy alert whose entry create gets no answer: `hang` is lost before Binance acts on it,
    `create_then_hang` after Binance filled it (its lookups then fail as well)."""
    venue = deployment.fake.venue
    venue.fail_next("POST", ORDER, fault)
    if fault == "create_then_hang":
        venue.fail_next("GET", ORDER, "503", count=FAST.lookup_attempts)
    signal_id = await deployment.send(buy_alert())
    entry = deployment.bracket(signal_id).order(client_order_id(signal_id, Leg.ENTRY))
    assert entry.state is OrderState.UNKNOWN
    return signal_id


async def test_the_monitor_never_sends_an_unknown_order_again_without_a_request_expiry(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    """The lost create may still be executed by a venue without an expiry: a copy with the
    same client order id would enter twice once the first fills. It stays unknown, in doubt."""
    signal_id = await lost_entry(deployment)
    with caplog.at_level(logging.ERROR, logger="signalgate.brackets"):
        await deployment.monitor.run_once()
        await deployment.monitor.run_once()

    assert deployment.fake.venue.count("POST", ORDER) == 1  # never sent again
    assert deployment.on_venue(signal_id, Leg.ENTRY) == []
    bracket = deployment.bracket(signal_id)
    entry = bracket.order(client_order_id(signal_id, Leg.ENTRY))
    assert entry.state is OrderState.UNKNOWN
    assert bracket.state is BracketState.OPENING
    assert "is not sent again" in steps(deployment, signal_id)["in_doubt"]
    assert any("IN DOUBT" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


async def test_a_second_entry_on_the_symbol_is_denied_while_a_bracket_is_in_doubt(
    deployment: Deployment,
) -> None:
    first = await lost_entry(deployment)
    await deployment.monitor.run_once()

    second = await deployment.send(buy_alert())

    assert deployment.status(second) is SignalStatus.DENIED
    cid = client_order_id(first, Leg.ENTRY)
    reason = steps(deployment, second)["decision"]
    assert f"bracket {first} is in doubt" in reason
    assert f"signalgate orders resolve {cid} --found" in reason
    assert deployment.fake.venue.count("POST", ORDER) == 1


def cli_env(monkeypatch: pytest.MonkeyPatch, fake: RunningFake, db: str, redis_url: str) -> None:
    for key, value in {
        "TRADING_MODE": "testnet",
        "VENUES": "binance",
        "BINANCE_MODE": "testnet",
        "BINANCE_API_KEY": API_KEY,
        "BINANCE_API_SECRET": API_SECRET,
        "BINANCE_API_URL": fake.url,
        "DATABASE_URL": db,
        "REDIS_URL": redis_url,
    }.items():
        monkeypatch.setenv(key, value)


async def resolve(*args: str) -> int:
    return await anyio.to_thread.run_sync(main, ["orders", "resolve", *args])


async def test_resolve_gone_settles_an_order_the_venue_does_not_know(
    deployment: Deployment,
    fake: RunningFake,
    sqlite_url: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_env(monkeypatch, fake, sqlite_url, redis_url)
    signal_id = await lost_entry(deployment)
    cid = client_order_id(signal_id, Leg.ENTRY)

    assert await resolve(cid, "--found") == 1  # the venue does not know it
    assert "does not know order" in capsys.readouterr().err
    assert await resolve(cid, "--gone") == 0
    assert "is now expired" in capsys.readouterr().out
    assert await resolve(cid, "--gone") == 1  # nothing in doubt any more: one sentence
    assert "no open bracket has an order in doubt" in capsys.readouterr().err

    assert "settled as gone by the operator" in steps(deployment, signal_id)["doubt_resolved"]
    await deployment.monitor.run_once()  # nothing entered: the bracket ends without an order
    assert deployment.bracket(signal_id).state in (BracketState.FAILED, BracketState.CLOSED)
    assert deployment.fake.venue.count("POST", ORDER) == 1
    assert deployment.status(await deployment.send(buy_alert())) is SignalStatus.EXECUTED


async def test_resolve_found_takes_what_the_venue_reports(
    deployment: Deployment,
    fake: RunningFake,
    sqlite_url: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_env(monkeypatch, fake, sqlite_url, redis_url)
    signal_id = await lost_entry(deployment, "create_then_hang")
    cid = client_order_id(signal_id, Leg.ENTRY)

    assert await resolve(cid, "--gone") == 1  # the venue has it: refused
    assert "settle it with --found" in capsys.readouterr().err
    assert await resolve(cid, "--found") == 0
    assert "is now filled" in capsys.readouterr().out

    entry = deployment.bracket(signal_id).order(cid)
    assert (entry.state, entry.filled) == (OrderState.FILLED, D("0.01"))
    assert "as the venue reports it: filled" in steps(deployment, signal_id)["doubt_resolved"]
    await deployment.monitor.run_once()  # the bracket goes on: its stop-loss rests
    (stop,) = deployment.on_venue(signal_id, Leg.STOP_LOSS)
    assert stop["status"] == "NEW"
    assert len(deployment.on_venue(signal_id, Leg.ENTRY)) == 1


async def test_the_metric_counts_orders_in_doubt(
    deployment: Deployment, sqlite_url: str, redis_url: str
) -> None:
    await lost_entry(deployment)
    with make_client(redis_url, sqlite_url) as client:
        metrics = scrape(client)
    assert metrics["signalgate_orders_in_doubt"] == {(): 1}


def test_the_metric_is_zero_without_doubt(redis_url: str, engine: sqlalchemy.Engine) -> None:
    with make_client(redis_url, str(engine.url.render_as_string(hide_password=False))) as client:
        assert scrape(client)["signalgate_orders_in_doubt"] == {(): 0}


async def test_the_paper_venue_leaves_a_lost_create_in_doubt(sqlite_url: str) -> None:
    """The paper venues answer the workers over Redis; a create the host did not answer in time
    is `unknown` (OutcomeUnknown) and is never sent again: the monitor, which drives the hosted
    venue itself, finds no such order and leaves the entry in doubt."""
    engine = make_engine(sqlite_url)
    store = SqlExecutionStore(engine)
    driver = BracketDriver(store, now)
    market = Market("BTC/USDT", "BTC", "USDT", amount_step=D("0.001"), min_cost=D(10))
    paper = PaperExchange(
        PaperVenue("paper", [market], {"USDT": D(50_000)}),
        lambda symbol: book(bids="99.5x1", asks="100x1"),
        now,
    )
    cid = "sg01KDPAPER00000000000000001en00"
    entry = LegOrder(Leg.ENTRY, cid, Side.BUY, OrderKind.MARKET, D("0.2"), state=OrderState.UNKNOWN)
    bracket = Bracket("01KDPAPER00000000000000001", "default", "paper", "BTC/USDT", Side.BUY,
                      market, now(), stop_loss=D(95), orders=(entry,))  # fmt: skip
    record = SignalRecord(bracket.id, now(), SignalStatus.EXECUTED, buy_alert(), "native", "p")
    SqlSignalStore(engine).add_many([record])
    store.save_bracket(bracket, now())
    try:
        driven = await driver.drive(bracket, paper)
        driven = await driver.drive(driven, paper)
    finally:
        engine.dispose()

    assert driven.order(cid).state is OrderState.UNKNOWN
    assert await paper.fetch_order_by_client_id("BTC/USDT", cid) is None  # never sent
    assert await paper.open_orders() == []
