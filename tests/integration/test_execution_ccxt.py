"""Execution on a real-ccxt venue: the executor and the bracket monitor place, watch and close
spot brackets on the local fake Binance through unmodified ccxt, over the SQL store and Redis
locks. Assertions read the fake's own orders (what Binance holds), not only our records."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import pytest
import redis

from app.adapters.ccxt.calls import RetryPolicy
from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.redis.locks import RedisKeyLocks
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.brackets.bracket import Bracket, BracketState
from app.domain.execution_policy import ExecutionPolicy
from app.domain.orders import Leg, OrderState, client_order_id
from app.domain.risk_values import RiskLimits
from app.domain.signals import (
    Action,
    Signal,
    SignalRecord,
    SignalStatus,
    StopKind,
    StopLoss,
    TakeProfit,
)
from app.domain.sizing import SizingPolicy
from app.ports.reconciliation import EntryHolds
from app.services.brackets.monitor import BracketMonitor
from app.services.execution.executor import Executor
from tests.fake_binance import API_KEY, API_SECRET, RunningFake

pytestmark = pytest.mark.anyio
D = Decimal
ORDER = "/api/v3/order"
FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, lookup_attempts=3, expiry_margin_seconds=0.1)
AMOUNT, TARGET, STOP = D("0.01"), D(52_000), D(48_000)
ENTRY_ASK = D(50_010)  # the fake's best ask: what a market buy pays


def now() -> datetime:
    return datetime.now(UTC)


def buy_alert() -> Signal:
    return Signal(
        symbol="BTC/USDT",
        action=Action.BUY,
        source="tradingview:native",
        quantity=AMOUNT,
        take_profits=(TakeProfit(price=TARGET),),
        stop_loss=StopLoss(StopKind.PRICE, STOP),
    )


@dataclass
class Deployment:
    fake: RunningFake
    store: SqlExecutionStore
    signals: SqlSignalStore
    executor: Executor
    monitor: BracketMonitor
    ids: Iterator[str]

    async def send(self, signal: Signal) -> str:
        """Keep the signal as intake would and run it as the worker does."""
        signal_id = next(self.ids)
        record = SignalRecord(signal_id, now(), SignalStatus.QUEUED, signal, "native", signal_id)
        self.signals.add_many([record])
        await self.executor.execute(signal_id)
        return signal_id

    def bracket(self, signal_id: str) -> Bracket:
        bracket = self.store.bracket(signal_id)
        assert bracket is not None
        return bracket

    def status(self, signal_id: str) -> SignalStatus:
        pending = self.store.signal(signal_id)
        assert pending is not None
        return pending.status

    def on_venue(self, signal_id: str, leg: Leg, revision: int = 0) -> list[dict[str, Any]]:
        """The fake Binance's orders with the leg's client order id."""
        return self.fake.venue.orders_with_client_id(client_order_id(signal_id, leg, revision))

    def move(self, bid: str, ask: str) -> None:
        self.fake.venue.set_price("BTCUSDT", D(bid), D(ask))


@pytest.fixture
async def deployment(
    fake: RunningFake, sqlite_url: str, redis_url: str
) -> AsyncIterator[Deployment]:
    async with deployed(fake, sqlite_url, redis_url) as running:
        yield running


@asynccontextmanager
async def deployed(
    fake: RunningFake,
    sqlite_url: str,
    redis_url: str,
    *,
    policy: ExecutionPolicy | None = None,
    expiry: bool = True,
    exchange_id: str = "binance",
    holds: EntryHolds | None = None,
    leverages: dict[str, Decimal] | None = None,
) -> AsyncIterator[Deployment]:
    """The worker's executor and the monitor on the fake Binance spot (`exchange_id`: the ccxt
    venue to trade it as); `expiry=False` removes the profile's request expiry (as venues
    without one have); `holds`: the entries a drift holds back."""
    engine = make_engine(sqlite_url)
    store = SqlExecutionStore(engine)
    exchange = CcxtExchange(
        exchange_id,
        mode="testnet",
        api_key=API_KEY,
        secret=API_SECRET,
        base_url=fake.url,
        timeout_ms=500,
        retry=FAST,
        options={"recvWindow": 300},  # a lost create is re-checked after 0.3 s, not 5 s
    )
    if not expiry:
        exchange.profile = msgspec.structs.replace(exchange.profile, expiry=None)
    client = redis.Redis.from_url(redis_url)
    locks = RedisKeyLocks(client)
    venues = {exchange_id: exchange}
    executor = Executor(
        store=store,
        venues=venues,
        modes={exchange_id: "testnet"},
        clock=now,
        locks=locks,
        limits=RiskLimits(),
        sizing=SizingPolicy(),
        policy=policy,
        holds=holds,
        leverages=leverages,
    )
    monitor = BracketMonitor(store=store, venues=venues, driver=executor.driver, locks=locks)
    ids = (f"01KA0000000000000000000{n:03d}" for n in itertools.count(1))
    try:
        yield Deployment(fake, store, SqlSignalStore(engine), executor, monitor, ids)
    finally:  # a failed test leaves no session open to warn in the next one
        await exchange.close()
        client.close()
        engine.dispose()


async def test_a_buy_alert_fills_the_entry_and_rests_a_binance_stop_loss(
    deployment: Deployment,
) -> None:
    signal_id = await deployment.send(buy_alert())

    (entry,) = deployment.on_venue(signal_id, Leg.ENTRY)
    (stop,) = deployment.on_venue(signal_id, Leg.STOP_LOSS)
    assert (entry["type"], entry["side"], entry["status"]) == ("MARKET", "BUY", "FILLED")
    assert D(entry["executedQty"]) == AMOUNT
    assert D(entry["cummulativeQuoteQty"]) == AMOUNT * ENTRY_ASK
    assert (stop["type"], stop["side"], stop["status"]) == ("STOP_LOSS", "SELL", "NEW")
    assert (D(stop["origQty"]), D(stop["stopPrice"])) == (AMOUNT, STOP)
    assert len(deployment.fake.venue.order_book()) == 2  # the take-profit is watched, not sent
    assert deployment.fake.venue.balances["BTC"] == [D("0.5"), AMOUNT]  # the stop locks the coins

    bracket = deployment.bracket(signal_id)
    assert deployment.status(signal_id) is SignalStatus.EXECUTED
    assert bracket.state is BracketState.OPEN
    assert bracket.entry_price == ENTRY_ASK
    ours = {o.leg: o for o in bracket.orders}
    assert ours[Leg.ENTRY].order_id == str(entry["orderId"])
    assert ours[Leg.STOP_LOSS].order_id == str(stop["orderId"])
    assert ours[Leg.STOP_LOSS].state is OrderState.ACCEPTED


async def test_the_take_profit_cancels_the_stop_on_binance_and_sells_at_market(
    deployment: Deployment,
) -> None:
    signal_id = await deployment.send(buy_alert())
    assert await deployment.monitor.run_once() == 0  # the price has not moved: nothing to do
    (stop,) = deployment.on_venue(signal_id, Leg.STOP_LOSS)
    assert stop["status"] == "NEW"

    deployment.move("52100", "52120")
    await deployment.monitor.run_once()

    (stop,) = deployment.on_venue(signal_id, Leg.STOP_LOSS)
    (target,) = deployment.on_venue(signal_id, Leg.TAKE_PROFIT)
    assert stop["status"] == "CANCELED"
    assert (target["type"], target["side"], target["status"]) == ("MARKET", "SELL", "FILLED")
    assert D(target["executedQty"]) == AMOUNT
    assert D(target["cummulativeQuoteQty"]) == AMOUNT * D(52_100)  # at the bid
    assert deployment.fake.venue.balances["BTC"] == [D("0.5"), D(0)]
    bracket = deployment.bracket(signal_id)
    assert bracket.state is BracketState.CLOSED
    assert bracket.realized_pnl == (D(52_100) - ENTRY_ASK) * AMOUNT > 0
    assert bracket.position == 0


async def test_a_close_alert_cancels_the_stop_and_flattens_on_binance(
    deployment: Deployment,
) -> None:
    opened = await deployment.send(buy_alert())
    deployment.move("50490", "50510")
    closer = await deployment.send(
        Signal(symbol="BTC/USDT", action=Action.CLOSE, source="tradingview:native")
    )

    (stop,) = deployment.on_venue(opened, Leg.STOP_LOSS)
    (flatten,) = deployment.on_venue(opened, Leg.EXIT)
    assert stop["status"] == "CANCELED"
    assert (flatten["type"], flatten["side"], flatten["status"]) == ("MARKET", "SELL", "FILLED")
    assert D(flatten["executedQty"]) == AMOUNT
    assert deployment.on_venue(opened, Leg.TAKE_PROFIT) == []
    assert deployment.fake.venue.balances["BTC"] == [D("0.5"), D(0)]
    bracket = deployment.bracket(opened)
    assert bracket.state is BracketState.CLOSED
    assert bracket.realized_pnl == (D(50_490) - ENTRY_ASK) * AMOUNT
    assert deployment.status(closer) is SignalStatus.EXECUTED
    assert await deployment.monitor.run_once() == 0  # nothing left open


async def test_a_stop_that_fills_before_its_cancel_arrives_ends_the_bracket_without_a_sale(
    deployment: Deployment,
) -> None:
    """The price reaches the target, we read the book and go to cancel the stop; on Binance the
    price falls through the stop first. The cancel answers "Unknown order sent", the stop is read
    back filled, and the target is not sold on top of it (that would sell coins not ours)."""
    signal_id = await deployment.send(buy_alert())
    deployment.move("52100", "52120")
    deployment.fake.venue.before_next(
        "DELETE", ORDER, lambda: deployment.move("47900", "47920")
    )  # between our read and our cancel

    await deployment.monitor.run_once()

    (stop,) = deployment.on_venue(signal_id, Leg.STOP_LOSS)
    assert (stop["status"], D(stop["executedQty"])) == ("FILLED", AMOUNT)
    assert D(stop["cummulativeQuoteQty"]) == AMOUNT * D(47_900)  # at market once triggered
    assert deployment.on_venue(signal_id, Leg.TAKE_PROFIT) == []
    assert deployment.on_venue(signal_id, Leg.EXIT) == []
    assert deployment.fake.venue.count("DELETE", ORDER) == 1
    assert deployment.fake.venue.balances["BTC"] == [D("0.5"), D(0)]
    bracket = deployment.bracket(signal_id)
    assert bracket.order(client_order_id(signal_id, Leg.STOP_LOSS)).state is OrderState.FILLED
    assert bracket.state is BracketState.CLOSED
    assert bracket.position == 0
    assert bracket.realized_pnl == (D(47_900) - ENTRY_ASK) * AMOUNT


async def test_a_stop_triggered_on_binance_closes_the_bracket_at_a_loss(
    deployment: Deployment,
) -> None:
    signal_id = await deployment.send(buy_alert())
    deployment.move("47950", "47970")  # through the stop: Binance sells at market

    await deployment.monitor.run_once()

    (stop,) = deployment.on_venue(signal_id, Leg.STOP_LOSS)
    assert stop["status"] == "FILLED"
    assert len(deployment.fake.venue.order_book()) == 2
    bracket = deployment.bracket(signal_id)
    assert bracket.state is BracketState.CLOSED
    assert bracket.realized_pnl == (D(47_950) - ENTRY_ASK) * AMOUNT


@pytest.mark.parametrize("lookups_lost", [0, FAST.lookup_attempts])
async def test_an_entry_created_but_unanswered_is_placed_once_and_the_bracket_goes_on(
    deployment: Deployment, lookups_lost: int
) -> None:
    """Binance creates the entry and the answer never arrives. The adapter looks it up by client
    order id; when those lookups are lost too, the entry is `unknown` and the monitor finds it."""
    venue = deployment.fake.venue
    venue.fail_next("POST", ORDER, "create_then_hang")
    venue.fail_next("GET", ORDER, "503", count=lookups_lost)

    signal_id = await deployment.send(buy_alert())
    if lookups_lost:
        entry_leg = deployment.bracket(signal_id).order(client_order_id(signal_id, Leg.ENTRY))
        assert entry_leg.state is OrderState.UNKNOWN
        assert deployment.on_venue(signal_id, Leg.STOP_LOSS) == []  # not until the entry is known
        await deployment.monitor.run_once()

    (entry,) = deployment.on_venue(signal_id, Leg.ENTRY)
    (stop,) = deployment.on_venue(signal_id, Leg.STOP_LOSS)
    assert entry["status"] == "FILLED"
    assert (stop["type"], stop["status"], D(stop["origQty"])) == ("STOP_LOSS", "NEW", AMOUNT)
    assert venue.count("POST", ORDER) == 2  # the entry once, the stop once
    assert deployment.status(signal_id) is SignalStatus.EXECUTED
    bracket = deployment.bracket(signal_id)
    assert bracket.state is BracketState.OPEN
    assert bracket.order(client_order_id(signal_id, Leg.ENTRY)).order_id == str(entry["orderId"])


async def test_a_stop_binance_refuses_leaves_the_bracket_unprotected_and_flattened(
    deployment: Deployment,
) -> None:
    """The price falls through the stop between the entry and the stop's placement: Binance
    refuses a stop that would trigger at once, and the unprotected position is sold."""
    venue = deployment.fake.venue
    crash = lambda: deployment.move("47900", "47920")  # noqa: E731
    venue.before_next("POST", ORDER, lambda: venue.before_next("POST", ORDER, crash))

    signal_id = await deployment.send(buy_alert())

    assert deployment.on_venue(signal_id, Leg.STOP_LOSS) == []  # refused: nothing rests
    assert venue.count("POST", ORDER) == 3  # entry, the refused stop, the flattening sale
    (flatten,) = deployment.on_venue(signal_id, Leg.EXIT)
    assert (flatten["type"], flatten["side"], flatten["status"]) == ("MARKET", "SELL", "FILLED")
    assert venue.balances["BTC"] == [D("0.5"), D(0)]
    bracket = deployment.bracket(signal_id)
    leg = bracket.order(client_order_id(signal_id, Leg.STOP_LOSS))
    assert leg.state is OrderState.REJECTED
    assert bracket.state is BracketState.CLOSED
    assert "trigger immediately" in (bracket.note or "")
