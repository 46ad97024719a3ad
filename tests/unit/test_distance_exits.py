"""Distance exits (PineConnector's sl=/tp=, TradersPost's amount) are measured from the entry's
fill at execution, like percent exits, so an alert without a price gets its bracket."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from app.domain.brackets.bracket import BracketState
from app.domain.dialects import parse_alert
from app.domain.orders import Leg
from app.domain.signals import SignalStatus
from tests.unit.test_execution import World

pytestmark = pytest.mark.anyio
D = Decimal
LICENSE = "60123456789"
# The entry walks the asks: 0.001 at 100,000 and the rest at 100,100, so its fill (100,080 for
# 0.005) is not the reference price (the best ask) the bracket was first measured from.
WALKED = "99900x1|100000x0.001 100100x1"


async def test_a_pineconnector_buy_without_price_gets_its_exits_from_the_fill() -> None:
    world = World(a=WALKED)
    parsed = parse_alert(f"{LICENSE},buy,BTCUSDT,risk=0.005,sl=500,tp=1000".encode())
    signal_id = await world.send(parsed.signal)

    assert world.store.rows[signal_id].status is SignalStatus.EXECUTED
    bracket = world.store.brackets[signal_id]
    assert bracket.entry_price == D(100_080)
    assert bracket.take_profits == ((D(101_080), D(1)),)
    assert bracket.stop_loss == D(99_580)
    [stop] = [o for o in bracket.orders if o.leg is Leg.STOP_LOSS]
    assert stop.trigger_price == D(99_580)
    assert bracket.state is BracketState.OPEN


async def test_a_traderspost_buy_without_price_gets_its_exits_from_the_fill() -> None:
    world = World(a=WALKED)
    body = {
        "ticker": "BTCUSDT",
        "action": "buy",
        "quantity": "0.005",
        "takeProfit": {"amount": 2000},
        "stopLoss": {"type": "stop", "amount": "250.5"},
    }
    signal_id = await world.send(parse_alert(json.dumps(body).encode()).signal)

    bracket = world.store.brackets[signal_id]
    assert bracket.entry_price == D(100_080)
    assert bracket.take_profits == ((D(102_080), D(1)),)
    assert bracket.stop_loss == D("99829.5")


async def test_a_distance_past_zero_from_the_fill_is_denied_with_its_reason() -> None:
    world = World(a=WALKED)
    parsed = parse_alert(f"{LICENSE},buy,BTCUSDT,risk=0.005,sl=100000".encode())
    signal_id = await world.send(parsed.signal)

    assert world.store.rows[signal_id].status is SignalStatus.DENIED
    assert "the stop-loss 0 is not between 0 and the long entry" in (
        world.store.lineage[signal_id][-1].detail
    )


def test_a_target_without_a_distance_is_stored_as_the_previous_release_reads_it() -> None:
    """During a deploy's overlap a worker of the previous release (whose TakeProfit has no
    `distance` and refuses unknown fields) reads what the new web process stored."""
    import msgspec  # noqa: PLC0415

    from app.domain.signals import TakeProfit  # noqa: PLC0415

    class PreviousTakeProfit(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        price: Decimal | None = None
        percent: Decimal | None = None
        share: Decimal = Decimal(1)

    stored = msgspec.json.encode(TakeProfit(price=Decimal(52_000), share=Decimal("0.5")))

    old = msgspec.json.decode(stored, type=PreviousTakeProfit)
    assert (old.price, old.percent, old.share) == (Decimal(52_000), None, Decimal("0.5"))
