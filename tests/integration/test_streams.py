"""Order streams driving the bracket monitor, through unmodified ccxt (ccxt.pro's watch_orders)
against the local fakes of Binance spot and USD-M and their private streams
(tests/venues/binance_streams.py): a fill seen through the stream, a dropped stream recovered
by polling and trusted again after a reconciliation round, an update sent twice.

The monitor's poll interval is an hour where only the stream may close a bracket: the bracket
closing at all is the proof (no test here measures time)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.adapters.ccxt.streams import CcxtOrderStream
from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg
from app.domain.signals import Action, Signal, StopKind, StopLoss, TakeProfit
from app.services.brackets.monitor import BracketMonitor
from app.services.brackets.streams import StreamState, StreamTrust, StreamWatch
from tests.venues import core
from tests.venues.http import Served
from tests.venues.road import Deployment, Road, on_fixture, served_fixture  # noqa: F401 - fixtures
from tests.venues.roads import ROADS
from tests.venues.streams import StreamServer, until

pytestmark = pytest.mark.anyio
HOUR = 3600.0
STREAMED = [road for road in ROADS if road.name in ("binance", "binanceusdm")]


@pytest.fixture(params=STREAMED, ids=lambda road: road.name)
def road(request: pytest.FixtureRequest) -> Road:
    chosen: Road = request.param
    return chosen


@pytest.fixture
def streams(served: Served[Any]) -> Iterator[StreamServer]:
    with StreamServer(served.venue) as server:
        yield server


@dataclass
class Streamed:
    """The monitor running with the venue's stream, until the test ends."""

    monitor: BracketMonitor
    watch: StreamWatch
    trust: StreamTrust


@contextlib.asynccontextmanager
async def streamed(
    on: Deployment, streams: StreamServer, *, interval: float, slow: float = HOUR
) -> AsyncIterator[Streamed]:
    road = on.road
    trust = StreamTrust()
    monitor = BracketMonitor(store=on.store, venues={road.name: on.exchange},
                             driver=on.executor.driver, locks=on.monitor.locks,
                             interval_seconds=interval, slow_interval_seconds=slow,
                             trust=trust)  # fmt: skip
    stream = CcxtOrderStream(road.name, mode=road.mode, api_key=road.api_key, secret=road.secret,
                             base_url=on.served.url, stream_url=streams.url,
                             options=road.options, connect_seconds=5)  # fmt: skip
    watch = StreamWatch(
        road.name, stream, trust, monitor.wake, monitor.reconcile, backoff_seconds=0.05
    )
    stop = asyncio.Event()
    tasks = [asyncio.create_task(monitor.run(stop)), asyncio.create_task(watch.run(stop))]
    try:
        await until(lambda: trust.trusted(road.name))
        yield Streamed(monitor, watch, trust)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def entry(on: Deployment) -> Signal:
    return Signal(
        symbol=on.road.symbol,
        action=Action.BUY,
        source="tradingview:native",
        quantity=on.road.amount,
        take_profits=(TakeProfit(price=on.price("1.04")),),
        stop_loss=StopLoss(StopKind.PRICE, on.price("0.96")),
    )


def closed(on: Deployment, signal_id: str) -> Callable[[], bool]:
    return lambda: on.bracket(signal_id).state is BracketState.CLOSED


async def test_a_stop_loss_fill_seen_through_the_stream_closes_the_bracket_between_polls(
    on: Deployment, streams: StreamServer
) -> None:
    signal_id = await on.send(entry(on))
    async with streamed(on, streams, interval=HOUR) as running:
        on.move(on.price("0.95"))  # through the stop: the venue sells at market

        await until(closed(on, signal_id))

        assert running.monitor.woken >= 1
    (stop,) = on.on_venue(signal_id, Leg.STOP_LOSS)
    assert stop.status == core.FILLED
    for target in on.on_venue(signal_id, Leg.TAKE_PROFIT):  # swaps: OCO'd by the stream
        assert target.status == core.CANCELED
    assert on.held() == 0


async def test_a_dropped_stream_is_covered_by_polling_and_trusted_after_a_full_round(
    on: Deployment, streams: StreamServer
) -> None:
    signal_id = await on.send(entry(on))
    async with streamed(on, streams, interval=0.05) as running:
        streams.muted = True  # the stream looks alive and loses the fill
        on.move(on.price("0.95"))
        await asyncio.sleep(0.3)  # rounds pass: a trusted venue is not read back
        assert on.bracket(signal_id).state is not BracketState.CLOSED

        streams.drop()  # now it drops: every round reads the venue back
        await until(closed(on, signal_id))
        streams.muted = False
        await until(lambda: running.trust.trusted(on.road.name))

        assert running.watch.subscriptions == 2
        assert running.trust.drops[on.road.name] >= 1
    assert streams.connections_made >= 2
    for target in on.on_venue(signal_id, Leg.TAKE_PROFIT):
        assert target.status == core.CANCELED


async def test_an_update_sent_twice_acts_once(on: Deployment, streams: StreamServer) -> None:
    signal_id = await on.send(entry(on))
    async with streamed(on, streams, interval=HOUR) as running:
        streams.repeat = 2
        on.move(on.price("0.95"))

        await until(closed(on, signal_id))
        await until(lambda: running.monitor.idle)

        assert running.monitor.told >= 2  # the repeat reached the monitor
    view = on.signals.get(signal_id)
    assert view is not None
    steps = [change.status for change in view.history]
    assert steps.count("closed") == 1
    assert steps.count("fill") == 1  # the stop-loss filled, once on the lineage
    for target in on.on_venue(signal_id, Leg.TAKE_PROFIT):
        assert target.status == core.CANCELED
    assert on.held() == 0


def test_trust_waits_for_a_full_round_that_began_after_the_subscription() -> None:
    clock = iter([10.0, 20.0]).__next__
    trust = StreamTrust(now=clock)
    trust.subscribed("binance")  # at 10

    trust.polled("binance", started=9.0)  # a round that began before: proves nothing
    assert trust.states["binance"] is StreamState.RECONCILING
    trust.polled("binance", started=10.0)
    assert trust.trusted("binance")

    trust.dropped("binance")
    assert trust.states["binance"] is StreamState.DOWN
    trust.subscribed("binance")  # at 20
    trust.polled("binance", started=15.0)
    assert not trust.trusted("binance")
