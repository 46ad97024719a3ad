"""An entry that reaches execution longer than `max_delay_seconds` after its receipt expires,
untraded, with the figures on its lineage; exits run however late they come."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.domain.brackets.bracket import BracketState
from app.domain.execution_policy import EntryPolicy, ExecutionPolicy
from app.domain.orders import Side
from app.domain.signals import Action, PositionSide, SignalStatus, execution_delay
from tests.unit.test_execution import NOW, World, alert
from tests.unit.test_execution_units import World as UnitWorld

pytestmark = pytest.mark.anyio
D = Decimal
LATE = NOW - timedelta(seconds=31)  # received 31 s before the worker's clock: past the 30 s


def test_the_reason_states_the_delay_and_the_limit() -> None:
    assert execution_delay(NOW - timedelta(seconds=30), NOW, max_delay_seconds=30) is None
    assert execution_delay(LATE, NOW, max_delay_seconds=30) == (
        "expired: received 31 s before execution, more than the 30 s"
        " EXECUTION_MAX_DELAY_SECONDS allows; nothing is placed"
    )


async def test_an_entry_older_than_the_limit_expires_and_places_nothing() -> None:
    world = World(a="99990x1|100000x1")
    signal_id = next(world.ids)
    world.store.add(signal_id, alert(), LATE)
    assert await world.executor.execute(signal_id) is SignalStatus.EXPIRED
    assert signal_id not in world.store.brackets
    assert await world.venues["a"].open_orders() == []
    last = world.store.lineage[signal_id][-1]
    assert (last.step, last.data) == ("decision", {"delay_seconds": 31.0, "max_delay_seconds": 30})
    assert last.detail is not None
    assert "received 31 s before execution" in last.detail


async def test_the_limit_is_a_setting() -> None:
    world = World(ExecutionPolicy(max_delay_seconds=60), a="99990x1|100000x1")
    signal_id = next(world.ids)
    world.store.add(signal_id, alert(), LATE)
    assert await world.executor.execute(signal_id) is SignalStatus.EXECUTED


async def test_a_close_that_old_still_runs() -> None:
    world = World(a="99990x1|100000x1")
    opened = await world.send(alert())
    close_id = next(world.ids)
    world.store.add(close_id, alert(Action.CLOSE), NOW - timedelta(minutes=10))
    assert await world.executor.execute(close_id) is SignalStatus.EXECUTED
    assert world.store.brackets[opened].state is BracketState.CLOSED


async def test_a_late_reverse_closes_and_does_not_open_the_other_side() -> None:
    world = World(a="99990x1|100000x1")
    opened = await world.send(alert())
    reverse_id = next(world.ids)
    world.store.add(reverse_id, alert(Action.REVERSE), NOW - timedelta(minutes=10))
    assert await world.executor.execute(reverse_id) is SignalStatus.EXPIRED
    assert world.store.brackets[opened].state is BracketState.CLOSED
    assert reverse_id not in world.store.brackets  # no short was opened


async def test_a_late_entry_under_entry_policy_reverse_does_not_flatten_either() -> None:
    world = World(ExecutionPolicy(entry_policy=EntryPolicy.REVERSE), a="99990x1|100000x1")
    opened = await world.send(alert())
    sell_id = next(world.ids)
    world.store.add(sell_id, alert(Action.SELL, position_side=PositionSide.SHORT), LATE)
    assert await world.executor.execute(sell_id) is SignalStatus.EXPIRED
    bracket = world.store.brackets[opened]
    assert (bracket.state, bracket.side) == (BracketState.OPEN, Side.BUY)


async def test_a_unit_whose_legs_arrived_too_long_ago_expires_whole() -> None:
    world = UnitWorld()
    ids = world.unit()
    world.now += timedelta(seconds=31)  # a backlog: the worker reaches the unit 31 s late
    statuses = await world.executor.execute_many(ids)
    assert list(statuses.values()) == [SignalStatus.EXPIRED, SignalStatus.EXPIRED]
    assert world.store.brackets == {}
    assert (world.btc("a"), world.btc("b")) == (0, D("0.005"))
