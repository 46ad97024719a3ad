"""Reconciliation with the venue's truth on the local fake Binance through unmodified ccxt, over
SQLite and the machine's Redis (the locks): coins sold by hand under a bracket, an order with
signalgate's client order id that no bracket owns, coins the user holds or buys outside
signalgate, a liquidated USD-M position; and what `GET /reconciliation` and `/metrics` show."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest

from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.sql.db import make_engine
from app.adapters.sql.reconciliation import SqlReconciliationStore
from app.domain.brackets.bracket import BracketState
from app.domain.execution_policy import EntryPolicy, ExecutionPolicy
from app.domain.orders import Leg, OrderKind, OrderRequest, Side, client_order_id
from app.domain.reconciliation import DriftPolicy
from app.domain.risk_values import TradingState
from app.domain.signals import Action, Signal, SignalStatus
from app.ports.reconciliation import KeyState
from app.services.reconciliation.reconciler import Reconciler
from tests.fake_binance import RunningFake
from tests.integration.test_exchange_ccxt import binance
from tests.integration.test_execution_ccxt import (
    AMOUNT,
    ENTRY_ASK,
    ORDER,
    Deployment,
    buy_alert,
    deployed,
    now,
)
from tests.integration.test_web_ops import AUTH, scrape
from tests.integration.test_webhook_http import make_client
from tests.venues import core
from tests.venues.http import serve
from tests.venues.road import deployed as on_the_road
from tests.venues.roads import ROADS

pytestmark = pytest.mark.anyio
D = Decimal
SELL_BY_HAND = "manual-sell-1"  # the user's own client order id: not signalgate's


@dataclass
class Desk:
    deployment: Deployment
    reconciler: Reconciler
    records: SqlReconciliationStore

    def state(self, symbol: str = "BTC/USDT") -> KeyState:
        [found] = [s for s in self.records.states() if s.symbol == symbol]
        return found

    def drift_steps(self, signal_id: str) -> list[str]:
        shown = self.deployment.signals.get(signal_id)
        assert shown is not None
        return [step.detail or "" for step in shown.history if step.status == "drift"]


@asynccontextmanager
async def desk(
    fake: RunningFake,
    sqlite_url: str,
    redis_url: str,
    policy: DriftPolicy = DriftPolicy.FLAG,
    exchange: str = "binance",
    symbols: tuple[str, ...] = ("BTC/USDT",),
) -> AsyncIterator[Desk]:
    """The worker's executor, the monitor and the reconciler (as the monitor process builds
    it) on the fake; entries may stack (ENTRY_POLICY=add): only a drift holds one back."""
    engine = make_engine(sqlite_url)
    records = SqlReconciliationStore(engine, holds_cache_seconds=0)
    add = ExecutionPolicy(entry_policy=EntryPolicy.ADD)
    async with deployed(
        fake, sqlite_url, redis_url, policy=add, exchange_id=exchange, holds=records
    ) as running:
        for venue in running.monitor.venues.values():
            # the venue's request weights, which ccxt waits out (the open orders of every symbol
            # weigh 40 of Binance's: 2 s), are not what these tests are about
            assert isinstance(venue, CcxtExchange)
            venue.client.enableRateLimit = False
        reconciler = Reconciler(
            store=running.store, records=records, venues=running.monitor.venues,
            driver=running.monitor.driver, locks=running.monitor.locks, clock=now,
            policies={exchange: policy}, symbols=symbols,
        )  # fmt: skip
        try:
            yield Desk(running, reconciler, records)
        finally:
            engine.dispose()


@asynccontextmanager
async def by_hand(fake: RunningFake, exchange: str = "binance") -> AsyncIterator[CcxtExchange]:
    """The user, trading on the same account through the API with ids of their own."""
    async with binance(fake, exchange) as user:
        yield user


async def test_coins_sold_by_hand_under_a_bracket_are_one_drift_and_the_bracket_converges(
    fake: RunningFake, sqlite_url: str, redis_url: str
) -> None:
    """The conformance run's case: the stop-loss cancelled by hand, then half the coins sold by
    hand. The monitor alone re-placed the stop for the whole position (refused: not enough
    coins), then tried to flatten the whole position, refused again, round after round."""
    fake.venue.balances["BTC"] = [D(0), D(0)]  # the user holds no BTC of their own
    async with desk(fake, sqlite_url, redis_url) as running:
        d = running.deployment
        await running.reconciler.run_once()  # at start: the baseline, 0 BTC
        signal_id = await d.send(buy_alert())
        [stop] = d.on_venue(signal_id, Leg.STOP_LOSS)
        async with by_hand(fake) as user:
            await user.cancel_order("BTC/USDT", str(stop["orderId"]))
            sold = OrderRequest(SELL_BY_HAND, "BTC/USDT", Side.SELL, OrderKind.MARKET, AMOUNT / 2)
            await user.create_order(sold)

        await d.monitor.run_once()  # without reconciliation: nothing converges
        stuck = d.bracket(signal_id)
        assert (stuck.state, stuck.position) == (BracketState.UNPROTECTED, AMOUNT)
        creates = fake.venue.count("POST", ORDER)

        await running.reconciler.run_once()

        bracket = d.bracket(signal_id)
        assert bracket.state is BracketState.CLOSED
        assert (bracket.position, bracket.adjusted) == (0, -AMOUNT / 2)
        flattens = [o for o in fake.venue.order_book() if o["clientOrderId"].startswith("sg")
                    and o["status"] == "FILLED" and o["side"] == "SELL"]  # fmt: skip
        assert [D(o["executedQty"]) for o in flattens] == [AMOUNT / 2]  # what was still held
        assert fake.venue.count("POST", ORDER) == creates + 1
        assert fake.venue.balances["BTC"] == [D(0), D(0)]
        [step] = running.drift_steps(signal_id)
        assert "binance holds 0.005 BTC where signalgate's book says 0.01" in step
        state = running.state()
        assert (state.drift, state.incidents, state.adjusted) == (0, 1, AMOUNT / 2)

        await d.monitor.run_once()
        await running.reconciler.run_once()
        assert fake.venue.count("POST", ORDER) == creates + 1  # settled: nothing more is sent
        assert len(running.drift_steps(signal_id)) == 1  # reported once
        assert running.state().incidents == 1


async def test_a_resting_order_with_signalgates_prefix_and_no_bracket_is_cancelled(
    fake: RunningFake, sqlite_url: str, redis_url: str
) -> None:
    async with desk(fake, sqlite_url, redis_url) as running:
        d = running.deployment
        signal_id = await d.send(buy_alert())  # its stop-loss rests: owned, left alone
        orphan = client_order_id("01KA0000000000000000000999", Leg.ENTRY)  # no such bracket
        async with by_hand(fake) as user:
            for cid in (orphan, "my-own-limit"):
                await user.create_order(OrderRequest(
                    cid, "BTC/USDT", Side.BUY, OrderKind.LIMIT, D("0.001"), price=D(40_000)
                ))  # fmt: skip

        await running.reconciler.run_once()

        status = {o["clientOrderId"]: o["status"] for o in fake.venue.order_book()}
        assert status[orphan] == "CANCELED"
        assert status["my-own-limit"] == "NEW"  # not signalgate's
        assert status[client_order_id(signal_id, Leg.STOP_LOSS)] == "NEW"
        [run] = running.records.runs()
        assert (run.venue, run.orphans_cancelled, run.error) == ("binance", 1, None)
        await running.reconciler.run_once()
        assert running.records.runs()[0].orphans_cancelled == 1
        with make_client(redis_url, sqlite_url) as client:
            metrics = scrape(client)
        assert metrics["signalgate_orphan_orders_cancelled"] == {(("venue", "binance"),): 1}


async def test_coins_bought_outside_signalgate_hold_entries_back_until_they_are_gone(
    fake: RunningFake, sqlite_url: str, redis_url: str
) -> None:
    """The user's own 0.5 BTC are the baseline, not drift; BTC bought by hand later is, and under
    DRIFT_POLICY=reduce_only no new BTC/USDT entry goes out until it is gone."""
    async with desk(fake, sqlite_url, redis_url, DriftPolicy.REDUCE_ONLY) as running:
        d = running.deployment
        await running.reconciler.run_once()
        first = await d.send(buy_alert())
        await running.reconciler.run_once()
        assert (running.state().baseline, running.state().drift) == (D("0.5"), 0)
        async with by_hand(fake) as user:
            bought = OrderRequest("manual-buy-1", "BTC/USDT", Side.BUY, OrderKind.MARKET, D("0.1"))
            await user.create_order(bought)

        await running.reconciler.run_once()

        state = running.state()
        assert (state.venue_amount, state.book, state.drift) == (D("0.61"), D("0.51"), D("0.1"))
        assert state.hold
        assert d.bracket(first).position == AMOUNT  # never adopted
        with make_client(redis_url, sqlite_url) as client:
            shown = client.get("/reconciliation", headers=AUTH).json()
            metrics = scrape(client)
        [row] = shown["symbols"]
        assert (row["venue"], row["symbol"], row["key"], row["kind"]) == (
            "binance", "BTC/USDT", "BTC", "balance"
        )  # fmt: skip
        assert (D(row["venue_amount"]), D(row["book"]), D(row["drift"])) == (
            D("0.61"), D("0.51"), D("0.1")
        )  # fmt: skip
        assert (row["policy"], row["hold"]) == ("reduce_only", True)
        assert row["drift_since"] is not None
        assert shown["venues"][0]["venue"] == "binance"
        assert metrics["signalgate_drift"] == {(("symbol", "BTC/USDT"), ("venue", "binance")): 0.1}
        held = await d.send(buy_alert())
        assert d.status(held) is SignalStatus.DENIED
        assert running.deployment.fake.venue.count("POST", ORDER) == 3  # entry, stop, by hand

        async with by_hand(fake) as user:
            gone = OrderRequest("manual-sell-2", "BTC/USDT", Side.SELL, OrderKind.MARKET, D("0.1"))
            await user.create_order(gone)
        await running.reconciler.run_once()
        assert (running.state().drift, running.state().hold) == (0, False)
        assert d.status(await d.send(buy_alert())) is SignalStatus.EXECUTED


async def test_drift_under_the_halt_policy_halts_trading_with_the_reason(
    fake: RunningFake, sqlite_url: str, redis_url: str
) -> None:
    async with desk(fake, sqlite_url, redis_url, DriftPolicy.HALT) as running:
        await running.reconciler.run_once()
        fake.venue.balances["BTC"][0] -= D("0.2")  # withdrawn
        await running.reconciler.run_once()
        store = running.deployment.store
        assert store.trading_state() is TradingState.HALTED
        denied = await running.deployment.send(buy_alert())
        assert running.deployment.status(denied) is SignalStatus.DENIED
        assert fake.venue.count("POST", ORDER) == 0


BTC_SWAP = "BTC/USDT:USDT"


async def test_a_liquidated_usdm_position_settles_its_bracket_and_is_drift(
    sqlite_url: str, redis_url: str
) -> None:
    """Binance USD-M through ccxt `binanceusdm` (tests/venues/binance_usdm.py): the venue
    liquidates the position, and cancels its open orders as Binance does; the bracket closes
    and the drift is reported."""
    road = next(road for road in ROADS if road.name == "binanceusdm")
    with serve(road.fake()) as served:
        async with on_the_road(road, served, sqlite_url, redis_url) as d:
            engine = make_engine(sqlite_url)
            records = SqlReconciliationStore(engine, holds_cache_seconds=0)
            reconciler = Reconciler(
                store=d.store, records=records, venues=d.monitor.venues,
                driver=d.monitor.driver, locks=d.monitor.locks, clock=now,
                policies={"binanceusdm": DriftPolicy.FLAG}, symbols=(BTC_SWAP,),
            )  # fmt: skip
            await reconciler.run_once()
            signal_id = await d.send(
                Signal(symbol=BTC_SWAP, action=Action.BUY, source="tradingview:native",
                       quantity=AMOUNT)
            )  # fmt: skip
            assert d.bracket(signal_id).state is BracketState.OPEN
            await reconciler.run_once()
            [state] = records.states()
            assert state.drift == 0
            venue = d.venue
            creates = venue.count("create")
            with venue.lock:  # liquidated: the position gone, its margin lost, orders cancelled
                venue.positions["BTCUSDT"] = core.Position()
                venue.balances["USDT"][0] -= AMOUNT * ENTRY_ASK / 20
                for order in venue.orders.values():
                    if order.status == core.OPEN:
                        venue.cancel(order)

            await reconciler.run_once()

            bracket = d.bracket(signal_id)
            assert bracket.state is BracketState.CLOSED
            assert (bracket.position, bracket.adjusted) == (0, -AMOUNT)
            shown = d.signals.get(signal_id)
            assert shown is not None
            [step] = [s.detail or "" for s in shown.history if s.status == "drift"]
            assert (
                "binanceusdm holds 0 BTC/USDT:USDT position where signalgate's book says 0.01"
                in step
            )
            [state] = records.states()
            assert (state.kind, state.drift, state.incidents) == ("position", 0, 1)
            assert venue.count("create") == creates  # nothing sent for a gone position
            engine.dispose()
