"""The scenarios of the venue road tests (tests/integration/test_venue_roads*.py): every venue
signalgate trades, on the whole road (tests/venues/road.py): an entry with its
stop-loss and take-profit legs, the monitor reading each leg back, OCO when a leg fills, close,
reverse, a lost create answer, a 429 and a 5xx, a cancel racing a fill and a partially filled
limit entry. The venue is its local fake, spoken to through the venue's adapter (unmodified
ccxt where ccxt has the venue); assertions read the fake's own orders and positions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg, OrderState
from app.domain.signals import (
    Action,
    OrderType,
    Signal,
    SignalStatus,
    StopKind,
    StopLoss,
    TakeProfit,
)
from tests.venues import core
from tests.venues.road import Deployment, Road, on_fixture, served_fixture  # noqa: F401 - fixtures
from tests.venues.roads import ROADS

D = Decimal


def roads(*ids: str) -> Any:
    """The `road` fixture of a test module: the scenarios below on each road of `ids` (a road's
    id, else its venue's name). The roads are spread over a few modules so that make test's
    workers share them (a module runs on one worker)."""
    chosen = [road for road in ROADS if (road.id or road.name) in ids]
    assert len(chosen) == len(ids), f"no road of some of {ids}"

    @pytest.fixture(name="road", params=chosen, ids=lambda road: road.id or road.name)
    def road(request: pytest.FixtureRequest) -> Road:
        picked: Road = request.param
        return picked

    return road


def entry(on: Deployment, action: Action = Action.BUY, **terms: Any) -> Signal:
    up, down = on.price("1.04"), on.price("0.96")
    target, stop = (up, down) if action is Action.BUY else (down, up)
    return Signal(
        symbol=on.road.symbol,
        action=action,
        source="tradingview:native",
        quantity=on.road.amount,
        take_profits=(TakeProfit(price=target),),
        stop_loss=StopLoss(StopKind.PRICE, stop),
        **terms,
    )


def one(orders: list[core.Order]) -> core.Order:
    assert len(orders) == 1, orders
    return orders[0]


def swap(on: Deployment) -> bool:
    return on.spec.swap


def stop_rests(on: Deployment) -> bool:
    """Whether the venue keeps stop orders; where it has none (`stop_market` False), nothing
    protective rests there: signalgate watches the stop-loss and sells at market."""
    return on.exchange.capabilities.stop_market


def resting(on: Deployment, status: str) -> list[str]:
    """The statuses the venue shows of a stop-loss in `status`: none where it keeps no stops."""
    return [status] if stop_rests(on) else []


def stop_statuses(on: Deployment, signal_id: str) -> list[str]:
    return [order.status for order in on.on_venue(signal_id, Leg.STOP_LOSS)]


async def test_an_entry_rests_its_stop_loss_and_the_monitor_reads_every_leg_back(
    on: Deployment,
) -> None:
    signal_id = await on.send(entry(on))

    assert on.status(signal_id) is SignalStatus.EXECUTED
    placed = one(on.on_venue(signal_id, Leg.ENTRY))
    assert (placed.kind, placed.side, placed.status) == (core.MARKET, "buy", core.FILLED)
    assert on.coins(placed.filled) == on.road.amount == on.held()
    stops = on.on_venue(signal_id, Leg.STOP_LOSS)
    if stop_rests(on):
        stop = one(stops)
        assert (stop.kind, stop.side, stop.status) == (core.STOP, "sell", core.OPEN)
        assert (on.coins(stop.amount), stop.trigger) == (on.road.amount, on.price("0.96"))
    else:  # no stop orders on the venue: the stop-loss is watched
        assert stops == []
    targets = on.on_venue(signal_id, Leg.TAKE_PROFIT)
    if swap(on):  # reduce-only legs rest on the venue
        target = one(targets)
        assert (target.kind, target.side, target.status) == (core.TAKE_PROFIT, "sell", core.OPEN)
        assert target.trigger == on.price("1.04")
        assert (stop.reduce_only, target.reduce_only) == (True, True)
    else:  # spot: the take-profit is watched; the stop holds the coins
        assert targets == []

    bracket = on.bracket(signal_id)
    assert bracket.state is BracketState.OPEN
    assert bracket.stop_watched is not stop_rests(on)
    legs = {o.leg: o for o in bracket.orders}
    if stop_rests(on):
        assert legs[Leg.STOP_LOSS].state is OrderState.ACCEPTED
    else:
        assert set(legs) == {Leg.ENTRY}
    fetches = on.venue.count("fetch")
    assert await on.monitor.run_once() == 0  # nothing moved: nothing to do
    read_back = on.venue.count("fetch") - fetches
    assert read_back >= len([o for o in bracket.orders if o.leg is not Leg.ENTRY])
    assert on.bracket(signal_id).orders == bracket.orders


async def test_the_take_profit_ends_the_bracket_and_cancels_the_stop_loss(
    on: Deployment,
) -> None:
    signal_id = await on.send(entry(on))
    on.move(on.price("1.05"))

    await on.monitor.run_once()
    await on.monitor.run_once()

    assert stop_statuses(on, signal_id) == resting(on, core.CANCELED)
    target = one(on.on_venue(signal_id, Leg.TAKE_PROFIT))
    assert (target.status, on.coins(target.filled)) == (core.FILLED, on.road.amount)
    assert on.held() == 0
    bracket = on.bracket(signal_id)
    assert bracket.state is BracketState.CLOSED
    assert bracket.position == 0
    assert (bracket.realized_pnl or 0) > 0


async def test_the_stop_loss_ends_the_bracket_and_cancels_the_take_profit(
    on: Deployment,
) -> None:
    signal_id = await on.send(entry(on))
    on.move(on.price("0.95"))  # through the stop: the venue sells at market

    await on.monitor.run_once()
    await on.monitor.run_once()

    stop = one(on.on_venue(signal_id, Leg.STOP_LOSS))
    assert (stop.status, on.coins(stop.filled)) == (core.FILLED, on.road.amount)
    for target in on.on_venue(signal_id, Leg.TAKE_PROFIT):
        assert target.status == core.CANCELED
    assert on.held() == 0
    bracket = on.bracket(signal_id)
    assert bracket.state is BracketState.CLOSED
    assert (bracket.realized_pnl or 0) < 0


async def test_a_close_alert_cancels_the_legs_and_flattens(on: Deployment) -> None:
    opened = await on.send(entry(on))
    on.move(on.price("1.01"))

    closer = await on.send(Signal(symbol=on.road.symbol, action=Action.CLOSE,
                                  source="tradingview:native"))  # fmt: skip

    assert on.status(closer) is SignalStatus.EXECUTED
    assert stop_statuses(on, opened) == resting(on, core.CANCELED)
    for target in on.on_venue(opened, Leg.TAKE_PROFIT):
        assert target.status == core.CANCELED
    flatten = one(on.on_venue(opened, Leg.EXIT))
    assert (flatten.kind, flatten.side, flatten.status) == (core.MARKET, "sell", core.FILLED)
    assert flatten.reduce_only == swap(on)
    assert on.held() == 0
    assert on.bracket(opened).state is BracketState.CLOSED
    assert await on.monitor.run_once() == 0


async def test_a_reverse_alert_closes_the_long_and_opens_a_short_where_the_venue_shorts(
    on: Deployment,
) -> None:
    opened = await on.send(entry(on))

    reverse = await on.send(entry(on, Action.REVERSE))

    assert one(on.on_venue(opened, Leg.EXIT)).status == core.FILLED
    assert on.bracket(opened).state is BracketState.CLOSED
    if swap(on):
        assert on.status(reverse) is SignalStatus.EXECUTED
        short = one(on.on_venue(reverse, Leg.ENTRY))
        assert (short.side, short.status) == ("sell", core.FILLED)
        assert on.held() == -on.road.amount
        stop = one(on.on_venue(reverse, Leg.STOP_LOSS))
        assert (stop.side, stop.trigger, stop.status) == ("buy", on.price("1.04"), core.OPEN)
        assert on.bracket(reverse).state is BracketState.OPEN
    else:  # a spot account cannot go short: the long is closed, the short refused
        assert on.status(reverse) is SignalStatus.DENIED
        assert on.on_venue(reverse, Leg.ENTRY) == []
        assert on.held() == 0


@pytest.mark.parametrize("lookups_lost", [0, 3])
async def test_a_lost_create_answer_places_the_entry_once(
    on: Deployment, lookups_lost: int
) -> None:
    """The venue creates the entry and the answer never arrives; when the lookups by client
    order id are lost too, the entry is unknown until the monitor finds it."""
    on.venue.fail_next("create", "create_then_hang")
    on.venue.fail_next("fetch", "5xx", count=lookups_lost)

    signal_id = await on.send(entry(on))
    if lookups_lost:
        await on.monitor.run_once()

    placed = one(on.on_venue(signal_id, Leg.ENTRY))
    assert placed.status == core.FILLED
    assert stop_statuses(on, signal_id) == resting(on, core.OPEN)
    assert on.held() == on.road.amount
    assert on.bracket(signal_id).state is BracketState.OPEN


@pytest.mark.parametrize("fault", ["429", "5xx"])
async def test_a_429_or_a_5xx_loses_nothing_and_doubles_nothing(on: Deployment, fault: str) -> None:
    on.venue.fail_next("create", fault)

    signal_id = await on.send(entry(on))
    on.venue.fail_next("fetch", fault, count=2)
    await on.monitor.run_once()
    await on.monitor.run_once()

    assert one(on.on_venue(signal_id, Leg.ENTRY)).status == core.FILLED
    assert stop_statuses(on, signal_id) == resting(on, core.OPEN)
    assert on.held() == on.road.amount
    assert on.bracket(signal_id).state is BracketState.OPEN


async def test_a_stop_loss_that_fills_while_its_cancel_is_on_the_way_is_not_sold_twice(
    on: Deployment,
) -> None:
    """A close alert goes to cancel the legs; on the venue the price falls through the stop
    first. The cancel fails, the stop is read back filled, and nothing is sold on top of it."""
    if not stop_rests(on):  # nothing protective rests to race: a resting entry's cancel races
        await _an_entry_that_fills_while_its_cancel_is_on_the_way_is_sold_once(on)
        return
    opened = await on.send(entry(on))
    crash = on.price("0.95")
    on.venue.before_next("cancel", lambda: on.move(crash))

    await on.send(Signal(symbol=on.road.symbol, action=Action.CLOSE,
                         source="tradingview:native"))  # fmt: skip
    await on.monitor.run_once()

    stop = one(on.on_venue(opened, Leg.STOP_LOSS))
    assert (stop.status, on.coins(stop.filled)) == (core.FILLED, on.road.amount)
    assert on.on_venue(opened, Leg.EXIT) == []
    assert on.held() == 0
    bracket = on.bracket(opened)
    assert bracket.state is BracketState.CLOSED
    assert bracket.position == 0


async def _an_entry_that_fills_while_its_cancel_is_on_the_way_is_sold_once(
    on: Deployment,
) -> None:
    """A close alert goes to cancel a resting limit entry; on the venue it fills first. The
    cancel fails, the entry is read back filled, and what it bought is sold, once."""
    opened = await on.send(entry(on, order_type=OrderType.LIMIT, limit_price=on.price("0.99")))
    placed = one(on.on_venue(opened, Leg.ENTRY))
    on.venue.before_next("cancel", lambda: on.venue.fill_partially(placed.client_id,
                                                                    placed.amount))  # fmt: skip

    await on.send(Signal(symbol=on.road.symbol, action=Action.CLOSE,
                         source="tradingview:native"))  # fmt: skip
    await on.monitor.run_once()

    assert (placed.status, on.coins(placed.filled)) == (core.FILLED, on.road.amount)
    flatten = one(on.on_venue(opened, Leg.EXIT))
    assert (flatten.side, flatten.status, on.coins(flatten.filled)) == (
        "sell", core.FILLED, on.road.amount,
    )  # fmt: skip
    assert on.held() == 0
    bracket = on.bracket(opened)
    assert bracket.state is BracketState.CLOSED
    assert bracket.position == 0


async def test_a_partly_filled_limit_entry_is_protected_as_it_fills(on: Deployment) -> None:
    limit = on.price("0.99")
    signal_id = await on.send(entry(on, order_type=OrderType.LIMIT, limit_price=limit))
    placed = one(on.on_venue(signal_id, Leg.ENTRY))
    assert (placed.kind, placed.status, placed.price) == (core.LIMIT, core.OPEN, limit)
    assert on.on_venue(signal_id, Leg.STOP_LOSS) == []  # nothing to protect yet

    half = placed.amount / 2
    on.venue.fill_partially(placed.client_id, half)
    await on.monitor.run_once()

    if stop_rests(on):
        stop = one(on.on_venue(signal_id, Leg.STOP_LOSS))
        assert (stop.status, on.coins(stop.amount)) == (core.OPEN, on.coins(half))
    else:  # the watched stop-loss covers what is filled
        assert on.on_venue(signal_id, Leg.STOP_LOSS) == []
        assert on.bracket(signal_id).position == on.coins(half)
    on.venue.fill_partially(placed.client_id, placed.amount - half)
    await on.monitor.run_once()
    await on.monitor.run_once()

    live = [o for o in on.venue.orders.values() if o.kind == core.STOP and o.status == core.OPEN]
    assert [on.coins(o.amount) for o in live] == ([on.road.amount] if stop_rests(on) else [])
    if not stop_rests(on):  # the watched stop-loss covers the whole entry
        assert on.bracket(signal_id).position == on.road.amount
    assert on.held() == on.road.amount
    assert on.bracket(signal_id).state is BracketState.OPEN
