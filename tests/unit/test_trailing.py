"""Trailing stops move at most once per TRAILING_MIN_INTERVAL_SECONDS and by at least
TRAILING_MIN_STEP_PERCENT of the stop (never by less than the price step); a moved stop replaces
the resting one new-first where the legs are reduce-only and old-first on spot; and the
replacements do not use up MAX_ORDERS_PER_MINUTE for new entries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import msgspec
import pytest

from app.domain.brackets.bracket import Bracket, BracketState, with_order
from app.domain.brackets.planner import Cancel, Place, plan, trailed
from app.domain.execution_policy import ExecutionPolicy
from app.domain.orders import Leg, OrderRequest, OrderState, OrderStatus
from app.domain.risk_values import RiskLimits
from app.domain.signals import SignalStatus, StopKind, StopLoss
from app.domain.targets import TrailingRules
from tests.paper_desk import Desk, Logged, plain
from tests.unit.test_brackets import NOW, accept, entry, long, placed

pytestmark = pytest.mark.anyio
D = Decimal
TRAILING = StopLoss(StopKind.TRAILING, D(2))  # 2% under the best bid since the entry
RULES = TrailingRules(min_interval_seconds=5, min_step_percent=D("0.5"))


def trailing(**kw: object) -> Bracket:
    return long(entry(), take_profits=(), stop_loss=D(98), trailing_percent=D(2), **kw)


def test_a_trailing_stop_moves_at_most_once_per_interval_and_catches_up_after_it() -> None:
    up = trailed(trailing(), D(101), NOW, RULES)
    assert (up.stop_loss, up.trailed_at) == (D("98.98"), NOW)
    later = NOW + timedelta(seconds=4)
    held = trailed(up, D(110), later, RULES)
    assert (held.stop_loss, held.best_price, held.trailed_at) == (D("98.98"), D(110), NOW)
    # 5 s after the last move, with no better price since: it moves to the best seen meanwhile
    caught = trailed(held, D(105), NOW + timedelta(seconds=5), RULES)
    assert (caught.stop_loss, caught.best_price) == (D("107.80"), D(110))


def test_a_trailing_stop_moves_by_at_least_its_step() -> None:
    # 0.5% of the stop at 98 is 0.49: a best price of 100.4 would move it by 0.39 only
    assert trailed(trailing(), D("100.4"), NOW, RULES).stop_loss == D(98)
    assert trailed(trailing(), D("100.5"), NOW, RULES).stop_loss == D("98.49")
    # without a step of its own, one price step (0.01) is the smallest move
    no_step = TrailingRules(min_step_percent=D(0))
    assert trailed(trailing(), D("100.01"), NOW, no_step).stop_loss == D("98.00")
    assert trailed(trailing(), D("100.02"), NOW, no_step).stop_loss == D("98.01")


def test_a_moved_stop_replaces_the_resting_one_new_first_on_reduce_only_legs() -> None:
    bracket = trailing(resting=True)
    stop = accept(placed(plan(bracket, D(100)))[0], "2")
    moved = trailed(msgspec.structs.replace(bracket, orders=(entry(), stop)), D(110), NOW, RULES)
    actions = plan(moved, D(110))
    (new,) = placed(actions)
    assert (new.trigger_price, new.revision, new.reduce_only) == (D("107.80"), 1, True)
    assert actions == [Place(new), Cancel(stop.client_order_id)]
    # once the venue refused a new one while the old one rested: old first, as on spot
    refused = msgspec.structs.replace(moved, cancel_first=True)
    assert plan(refused, D(110)) == [Cancel(stop.client_order_id), Place(new)]
    # spot: the old stop holds the coins: cancelled first
    spot = trailing()
    stop = accept(placed(plan(spot, D(100)))[0], "2")
    moved = trailed(msgspec.structs.replace(spot, orders=(entry(), stop)), D(110), NOW, RULES)
    assert plan(moved, D(110))[0] == Cancel(stop.client_order_id)


def test_of_two_resting_stops_the_one_that_matches_is_kept() -> None:
    """The new stop rests and the old one's cancel got no answer: the old one goes, the new one
    is not replaced again."""
    bracket = trailing(resting=True)
    old = accept(placed(plan(bracket, D(100)))[0], "2")
    moved = trailed(msgspec.structs.replace(bracket, orders=(entry(), old)), D(110), NOW, RULES)
    new = accept(placed(plan(moved, D(110)))[0], "3")
    both = msgspec.structs.replace(moved, orders=(entry(), old, new))
    assert plan(both, D(110)) == [Cancel(old.client_order_id)]
    twice = msgspec.structs.replace(new, client_order_id="again", order_id="4", revision=2)
    assert plan(with_order(both, twice), D(110)) == [
        Cancel(old.client_order_id),
        Cancel(new.client_order_id),
    ]


def stops_created(desk: Desk) -> list[str]:
    return [cid for what, cid in desk.venue.log if what == "create" and cid[-4:-2] == "sl"]


async def test_the_monitor_moves_a_trailing_stop_at_most_once_per_interval() -> None:
    desk = Desk()  # TRAILING_MIN_INTERVAL_SECONDS=5, TRAILING_MIN_STEP_PERCENT=0.1
    opened = await desk.send(plain("BTC/USDT", stop_loss=TRAILING))
    assert desk.store.brackets[opened].stop_loss == D(98_000)
    for bid in (101_000, 102_000, 103_000, 104_000):  # a new high every second
        desk.later(1)
        desk.move("BTC/USDT", f"{bid}x1", f"{bid + 10}x1")
        await desk.monitor.run_once()
    assert len(stops_created(desk)) == 2  # placed, then moved once (at 101,000)
    desk.later(3)  # 5 s after that move: it catches up with the best bid, 104,000
    await desk.monitor.run_once()

    bracket = desk.store.brackets[opened]
    assert len(stops_created(desk)) == 3
    assert bracket.stop_loss == D(101_920)  # 2% under 104,000
    [resting] = [o for o in bracket.orders if o.leg is Leg.STOP_LOSS and o.is_open]
    assert resting.trigger_price == D(101_920)
    assert len(desk.venue.venue.open_orders()) == 1


async def test_the_monitor_does_not_move_a_trailing_stop_by_less_than_its_step() -> None:
    desk = Desk(policy=ExecutionPolicy(trailing_min_step_percent=D("0.5")))
    opened = await desk.send(plain("BTC/USDT", stop_loss=TRAILING))
    desk.later(10)
    desk.move("BTC/USDT", "100400x1", "100410x1")  # the stop would gain 392: under 490
    await desk.monitor.run_once()
    assert len(stops_created(desk)) == 1
    desk.later(10)
    desk.move("BTC/USDT", "100600x1", "100610x1")  # 588: enough
    await desk.monitor.run_once()
    assert len(stops_created(desk)) == 2
    assert desk.store.brackets[opened].stop_loss == D(98_588)


async def test_a_moved_stop_on_spot_is_cancelled_before_it_is_placed_again() -> None:
    desk = Desk()
    opened = await desk.send(plain("BTC/USDT", stop_loss=TRAILING))
    desk.later(10)
    desk.move("BTC/USDT", "105000x1", "105010x1")
    await desk.monitor.run_once()
    first, second = stops_created(desk)
    moves = desk.venue.log[desk.venue.log.index(("create", first)) + 1 :]
    assert moves == [("cancel", first), ("create", second)]
    assert desk.store.brackets[opened].state is BracketState.OPEN


async def test_trailing_stop_replacements_leave_room_for_new_entries() -> None:
    desk = Desk(RiskLimits(max_orders_per_minute=4))
    opened = await desk.send(plain("BTC/USDT", stop_loss=TRAILING))  # the entry and its stop
    for bid in (102_000, 104_000, 106_000):  # three moves, 6 s apart: three replacements
        desk.later(6)
        desk.move("BTC/USDT", f"{bid}x1", f"{bid + 10}x1")
        await desk.monitor.run_once()
    stops = [o for o in desk.store.brackets[opened].orders if o.leg is Leg.STOP_LOSS]
    assert [o.state for o in stops] == [OrderState.CANCELLED] * 3 + [OrderState.ACCEPTED]

    allowed = await desk.send(plain("ETH/USDT"))

    assert desk.store.rows[allowed].status is SignalStatus.EXECUTED, desk.decision(allowed)
    assert desk.check(allowed, "orders_per_minute")["detail"] == (
        "2 orders in the last minute, under 4"
    )


class ReduceOnlyPaper(Logged):
    """The paper venue standing in for a venue with reduce-only legs (a perpetual's): it takes
    them as plain sells, and rests a second one while the account holds coins beyond the first
    one's, refusing it for insufficient balance otherwise."""

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        return await super().create_order(msgspec.structs.replace(request, reduce_only=False))


def as_if_reduce_only(desk: Desk, bracket_id: str) -> None:
    """The bracket protected by reduce-only legs, as the executor opens one on a perpetual."""
    bracket = desk.store.brackets[bracket_id]
    desk.store.save_bracket(msgspec.structs.replace(bracket, resting_legs=True), desk.now)


async def test_a_moved_reduce_only_stop_rests_before_the_old_one_is_cancelled() -> None:
    desk = Desk(venue_kind=ReduceOnlyPaper)  # 1 BTC of the account's own: a second sell rests
    opened = await desk.send(plain("BTC/USDT", stop_loss=TRAILING))
    as_if_reduce_only(desk, opened)
    desk.later(10)
    desk.move("BTC/USDT", "105000x1", "105010x1")
    await desk.monitor.run_once()

    first, second = stops_created(desk)
    moves = desk.venue.log[desk.venue.log.index(("create", first)) + 1 :]
    assert moves == [("create", second), ("cancel", first)]  # never without a resting stop
    bracket = desk.store.brackets[opened]
    assert (bracket.state, bracket.cancel_first) == (BracketState.OPEN, False)
    [resting] = desk.venue.venue.open_orders()
    assert (resting.client_order_id, resting.trigger_price) == (second, D(102_900))


async def test_a_new_stop_the_venue_refuses_falls_back_to_cancelling_first() -> None:
    desk = Desk(balances={"USDT": D(50_000)}, venue_kind=ReduceOnlyPaper)  # no coins to spare
    opened = await desk.send(plain("BTC/USDT", stop_loss=TRAILING))
    as_if_reduce_only(desk, opened)
    desk.later(10)
    desk.move("BTC/USDT", "105000x1", "105010x1")
    await desk.monitor.run_once()

    first, refused, third = stops_created(desk)
    moves = desk.venue.log[desk.venue.log.index(("create", first)) + 1 :]
    assert moves == [("create", refused), ("cancel", first), ("create", third)]
    bracket = desk.store.brackets[opened]
    assert bracket.order(refused).state is OrderState.REJECTED
    assert (bracket.state, bracket.cancel_first) == (BracketState.OPEN, True)  # not unprotected
    assert "unprotected" not in desk.store.steps(opened)
    [resting] = desk.venue.venue.open_orders()
    assert (resting.client_order_id, resting.trigger_price) == (third, D(102_900))
