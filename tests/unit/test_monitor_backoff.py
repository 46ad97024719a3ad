"""A bracket whose actions keep failing backs off instead of hammering its venue (real venues ban
keys for it), and becomes one incident instead of an endless loop."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.orders import Leg, OrderRequest, OrderStatus
from app.ports.errors import InsufficientFunds
from tests.fakes_execution import OnRecordFirst
from tests.unit.test_execution import NOW, World, alert

pytestmark = pytest.mark.anyio
BOOK = "99990x1|100000x1"


class Broke(OnRecordFirst):
    """A paper venue that refuses every new order, as after the coins were sold by hand."""

    creates = 0

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        Broke.creates += 1
        raise InsufficientFunds(f"{self.name}: account has insufficient balance")


class Clock:
    def __init__(self) -> None:
        self.at = 0.0

    def __call__(self) -> float:
        return self.at


async def test_a_bracket_whose_actions_keep_failing_backs_off() -> None:
    world = World(a=BOOK)
    signal_id = await world.send(alert())
    [stop] = [o for o in world.store.brackets[signal_id].orders if o.leg is Leg.STOP_LOSS]
    assert stop.order_id is not None
    await world.venues["a"].cancel_order("BTC/USDT", stop.order_id)  # cancelled by hand
    old = world.venues["a"]
    broke = Broke(old.venue, world.books.for_venue("a"), lambda: NOW)
    broke.store = world.store
    world.venues["a"] = broke
    clock = Clock()
    world.monitor.now = clock
    Broke.creates = 0
    for _ in range(60):  # 30 s of rounds every 0.5 s
        await world.monitor.run_once()
        clock.at += 0.5
    # one round tries (the stop, then the flatten, a few times); later rounds wait longer and
    # longer: 1, 2, 4, 8, 16 s after the round before
    # 6 of the 60 rounds try it (at 0, 0.5, 1.5, 3.5, 7.5 and 15.5 s), 12 creates each
    assert 0 < Broke.creates <= 6 * 12
    assert world.monitor.restless[signal_id][0] == 6
    assert Decimal(0) < world.store.brackets[signal_id].position
    incidents = [s for s in world.store.lineage[signal_id] if s.step == "restless"]
    assert len(incidents) == 1  # one incident, not one per round
    assert "3 rounds in a row left work undone on a" in incidents[0].detail


async def test_a_bracket_that_settles_again_is_tried_every_round() -> None:
    world = World(a=BOOK)
    signal_id = await world.send(alert())
    clock = Clock()
    world.monitor.now = clock
    world.monitor.restless[signal_id] = (2, 0.0)  # failed twice, its wait is over
    await world.monitor.run_once()  # nothing to do: no work, and the venue agrees
    world.move("a", "94000x1", "94010x1")  # the stop triggers on the venue
    world.venues["a"].refresh("BTC/USDT")
    await world.monitor.run_once()
    assert signal_id not in world.monitor.restless
