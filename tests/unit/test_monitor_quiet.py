"""The monitor plans a bracket again only when the bracket changed or its exit price crossed
one of the prices its plan compares with (`QuietBrackets`): a round over brackets with nothing to
do costs a price read each, and a target or a watched stop reached is still acted on at once."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from app.domain.brackets.bracket import BracketState
from app.domain.brackets.planner import plan
from app.services.brackets import driver
from tests.unit.test_execution import World, alert

pytestmark = pytest.mark.anyio


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[Decimal | None]:
    """The exit prices the monitor's driver planned at."""
    seen: list[Decimal | None] = []

    def counted(bracket: object, exit_price: Decimal | None) -> object:
        seen.append(exit_price)
        return plan(bracket, exit_price)  # type: ignore[arg-type]

    monkeypatch.setattr(driver, "plan", counted)
    return seen


@pytest.mark.parametrize("watched_stop", [False, True])
async def test_a_quiet_bracket_is_planned_again_only_when_its_price_crosses_an_edge(
    plans: list[Decimal | None], watched_stop: bool
) -> None:
    world = World(a="99990x1|100000x1")
    venue = world.venues["a"]
    if watched_stop:  # nothing rests: the stop-loss is watched too
        venue.capabilities = msgspec.structs.replace(venue.capabilities, stop_market=False)
    signal_id = await world.send(alert())
    assert await world.monitor.run_once() == 0
    plans.clear()
    for bid in range(100_000, 104_000, 500):  # under the target, over the stop
        world.move("a", f"{bid}x1", f"{bid + 10}x1")
        assert await world.monitor.run_once() == 0
    assert plans == []  # the first round's plan stands for all of them
    world.move("a", "94000x1" if watched_stop else "110000x1", "110010x1")
    assert await world.monitor.run_once() == 1
    assert len(plans) >= 1
    assert world.store.brackets[signal_id].state is BracketState.CLOSED
