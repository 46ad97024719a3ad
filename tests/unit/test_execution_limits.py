"""Entries that hold nothing yet count toward the account-wide limits (MAX_OPEN_POSITIONS,
MAX_TOTAL_EXPOSURE): a limit entry resting on its venue takes its slot and its notional until it
fills or is cancelled, and an entry its venue refused gives its slot back at once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.brackets.bracket import FINAL
from app.domain.orders import OrderState
from app.domain.risk_values import RiskLimits
from app.domain.signals import Action, OrderType, QtyMode, SignalStatus
from tests.unit.test_execution import World, alert, paper
from tests.unit.test_execution_holes import refusing

pytestmark = pytest.mark.anyio
D = Decimal
BOOK = "99990x1|100010x1"


async def test_a_resting_limit_entry_takes_a_slot_until_it_is_cancelled() -> None:
    world = World(limits=RiskLimits(max_open_positions=1), a=BOOK)
    resting = await world.send(alert(order_type=OrderType.LIMIT, limit_price=D(99_000)))
    assert world.store.brackets[resting].orders[0].state is OrderState.ACCEPTED

    eth = alert(symbol="ETH/USDT", take_profits=(), stop_loss=None, alert_id="eth1")
    denied = await world.send(eth)
    assert world.store.rows[denied].status is SignalStatus.DENIED
    assert (
        "1 positions are open (1 of them entries not filled yet) and the limit is 1"
        " (MAX_OPEN_POSITIONS), so no new position in ETH/USDT on a"
    ) in world.store.lineage[denied][-1].detail

    await world.send(alert(Action.CLOSE, alert_id="close"))  # cancels the resting entry
    assert world.store.brackets[resting].state in FINAL
    opened = await world.send(alert(symbol="ETH/USDT", take_profits=(), stop_loss=None,
                                    alert_id="eth2"))  # fmt: skip
    assert world.store.rows[opened].status is SignalStatus.EXECUTED


async def test_resting_limit_entries_count_at_their_notional_toward_exposure() -> None:
    world = World(limits=RiskLimits(max_total_exposure=D(1500)), a=BOOK)
    limit = {"order_type": OrderType.LIMIT, "qty_mode": QtyMode.BASE}
    first = await world.send(alert(limit_price=D(99_000), quantity=D("0.01"), **limit))  # 990
    eth = alert(symbol="ETH/USDT", alert_id="2", take_profits=(), stop_loss=None,
                limit_price=D(2990), quantity=D("0.2"), **limit)  # 598, below the ask  # fmt: skip
    second = await world.send(eth)
    assert world.store.rows[first].status is SignalStatus.EXECUTED
    assert world.store.rows[second].status is SignalStatus.DENIED
    assert (
        "open positions 0.00 + entries not filled yet 990.00 + this order 598.00 = 1,588.00 USDT"
        " of exposure is above the 1,500 limit (MAX_TOTAL_EXPOSURE)"
    ) in world.store.lineage[second][-1].detail


async def test_an_entry_its_venue_refused_gives_its_reservation_back() -> None:
    world = World(limits=RiskLimits(max_open_positions=1), a=BOOK)
    refusing(world, "a")
    refused = await world.send(alert())
    assert world.store.rows[refused].status is SignalStatus.FAILED
    world.venues["a"] = paper("a", world.books)  # the venue is back
    world.venues["a"].store = world.store
    again = await world.send(alert(symbol="ETH/USDT", take_profits=(), stop_loss=None,
                                   alert_id="2"))  # fmt: skip
    assert world.store.rows[again].status is SignalStatus.EXECUTED, world.store.lineage[again]
