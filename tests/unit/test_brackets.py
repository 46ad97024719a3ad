from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest

from app.domain.brackets.bracket import Bracket, BracketState, LegOrder, reported, with_order
from app.domain.brackets.planner import Cancel, Place, Settle, plan, target_amounts, trailed
from app.domain.brackets.pnl import realized_pnl
from app.domain.market import Market, MarketKind
from app.domain.orders import (
    IllegalTransition,
    Leg,
    OrderKind,
    OrderState,
    OrderStatus,
    Side,
    client_order_id,
)
from app.domain.targets import TrailingRules
from app.services.brackets.exits import watched

D = Decimal
S = OrderState
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
SPOT = Market(
    "BTC/USDT", "BTC", "USDT", amount_step=D("0.001"), min_amount=D("0.001"), min_cost=D("0.5")
)
SWAP = msgspec.structs.replace(SPOT, symbol="BTC/USDT:USDT", kind=MarketKind.SWAP, settle="USDT")
SID = "01JX5Z3K8Q4W2N7R9T1V3B5C7D"
RULES = TrailingRules()


def entry(filled: str = "0.010", state: OrderState = S.FILLED, price: str = "100") -> LegOrder:
    return LegOrder(
        leg=Leg.ENTRY,
        client_order_id=client_order_id(SID, Leg.ENTRY),
        side=Side.BUY,
        kind=OrderKind.MARKET,
        amount=D("0.010"),
        state=state,
        order_id="1",
        filled=D(filled),
        average_price=D(price),
    )


def long(*orders: LegOrder, resting: bool = False, **kw: object) -> Bracket:
    values: dict[str, object] = {
        "take_profits": ((D(110), D(1)),),
        "stop_loss": D(95),
        "resting_legs": resting,
        "market": SWAP if resting else SPOT,
    }
    values.update(kw)
    return Bracket(
        id=SID,
        account="default",
        venue="paper",
        symbol="BTC/USDT",
        side=Side.BUY,
        opened_at=NOW,
        orders=orders,
        **values,  # type: ignore[arg-type]
    )


def placed(actions: Sequence[object]) -> list[LegOrder]:
    return [a.order for a in actions if isinstance(a, Place)]


def accept(order: LegOrder, order_id: str) -> LegOrder:
    return msgspec.structs.replace(order, state=S.ACCEPTED, order_id=order_id)


def test_spot_bracket_rests_the_stop_for_the_whole_position_and_watches_the_target() -> None:
    actions = plan(long(entry()), D(100))
    (stop,) = placed(actions)
    assert (stop.leg, stop.kind, stop.side) == (Leg.STOP_LOSS, OrderKind.STOP_MARKET, Side.SELL)
    assert (stop.amount, stop.trigger_price, stop.reduce_only) == (D("0.010"), D(95), False)
    assert stop.client_order_id == client_order_id(SID, Leg.STOP_LOSS, 0)


def test_a_protected_bracket_needs_nothing_until_the_target_is_reached() -> None:
    stop = accept(placed(plan(long(entry()), D(100)))[0], "2")
    bracket = long(entry(), stop)
    assert plan(bracket, D(105)) == []
    assert plan(bracket, None) == []


def test_reaching_the_target_cancels_the_stop_first_then_sells_at_market() -> None:
    stop = accept(placed(plan(long(entry()), D(100)))[0], "2")
    actions = plan(long(entry(), stop), D(110))
    assert actions[0] == Cancel(stop.client_order_id)
    (fire,) = placed(actions)
    assert (fire.leg, fire.kind, fire.side, fire.amount) == (
        Leg.TAKE_PROFIT,
        OrderKind.MARKET,
        Side.SELL,
        D("0.010"),
    )


def test_after_the_target_fills_the_bracket_settles_closed_with_its_pnl() -> None:
    stop = msgspec.structs.replace(
        accept(placed(plan(long(entry()), D(100)))[0], "2"), state=S.CANCELLED
    )
    fire = LegOrder(
        Leg.TAKE_PROFIT,
        client_order_id(SID, Leg.TAKE_PROFIT),
        Side.SELL,
        OrderKind.MARKET,
        D("0.010"),
        state=S.FILLED,
        order_id="3",
        filled=D("0.010"),
        average_price=D(110),
        fee=D("0.0011"),
    )
    bracket = long(entry(), stop, fire)
    assert plan(bracket, D(110)) == [Settle(BracketState.CLOSED)]
    assert realized_pnl(bracket) == D("0.100") - D("0.0011")


def test_a_stop_fill_closes_the_bracket_and_nothing_is_left_resting() -> None:
    stop = accept(placed(plan(long(entry()), D(100)))[0], "2")
    hit = msgspec.structs.replace(stop, state=S.FILLED, filled=D("0.010"), average_price=D(95))
    assert plan(long(entry(), hit), D(94)) == [Settle(BracketState.CLOSED)]


def test_resting_legs_place_a_reduce_only_stop_and_take_profit() -> None:
    actions = plan(long(entry(), resting=True), D(100))
    stop, target = placed(actions)
    assert (stop.leg, stop.reduce_only, stop.amount) == (Leg.STOP_LOSS, True, D("0.010"))
    assert (target.leg, target.kind, target.trigger_price) == (
        Leg.TAKE_PROFIT,
        OrderKind.TAKE_PROFIT_MARKET,
        D(110),
    )


def test_one_cancels_the_other_when_the_take_profit_fills() -> None:
    stop, target = (
        accept(o, str(n))
        for n, o in enumerate(placed(plan(long(entry(), resting=True), D(100))), start=2)
    )
    done = msgspec.structs.replace(target, state=S.FILLED, filled=D("0.010"), average_price=D(110))
    actions = plan(long(entry(), stop, done, resting=True), D(110))
    assert actions == [Cancel(stop.client_order_id), Settle(BracketState.CLOSED)]


def test_a_partial_take_profit_shrinks_the_stop() -> None:
    stop, target = (
        accept(o, str(n))
        for n, o in enumerate(placed(plan(long(entry(), resting=True), D(100))), start=2)
    )
    part = msgspec.structs.replace(target, state=S.PARTIALLY_FILLED, filled=D("0.004"))
    actions = plan(long(entry(), stop, part, resting=True), D(110))
    (smaller,) = placed(actions)
    assert (smaller.leg, smaller.amount, smaller.revision) == (Leg.STOP_LOSS, D("0.006"), 1)
    # reduce-only legs: the new stop first, the old one cancelled once it rests
    assert actions == [Place(smaller), Cancel(stop.client_order_id)]


def test_a_partial_entry_protects_what_is_filled_and_grows_the_stop_with_the_fills() -> None:
    first = entry("0.006", S.PARTIALLY_FILLED)
    (stop,) = placed(plan(long(first), D(100)))
    assert stop.amount == D("0.006")
    stop = accept(stop, "2")
    more = entry("0.009", S.PARTIALLY_FILLED)
    actions = plan(long(more, stop), D(100))
    assert actions[0] == Cancel(stop.client_order_id)
    assert placed(actions)[0].amount == D("0.009")


def test_an_entry_fill_below_the_minimums_waits_without_legs() -> None:
    assert plan(long(entry("0.00", S.ACCEPTED)), D(100)) == []
    tiny = entry("0.001", S.PARTIALLY_FILLED)  # 0.1 USDT, under the 0.5 USDT minimum
    assert plan(long(tiny), D(100)) == []


def test_an_entry_that_never_fills_fails_the_bracket() -> None:
    refused = entry("0", S.REJECTED)
    assert plan(long(refused), D(100)) == [Settle(BracketState.FAILED)]


def test_the_cancel_versus_fill_race_is_bought_back_with_a_market_order() -> None:
    stop = msgspec.structs.replace(
        accept(placed(plan(long(entry()), D(100)))[0], "2"),
        state=S.FILLED,
        filled=D("0.010"),
        average_price=D(95),
    )
    fire = LegOrder(
        Leg.TAKE_PROFIT,
        client_order_id(SID, Leg.TAKE_PROFIT),
        Side.SELL,
        OrderKind.MARKET,
        D("0.010"),
        state=S.FILLED,
        order_id="3",
        filled=D("0.010"),
        average_price=D(110),
    )
    (buy_back,) = placed(plan(long(entry(), stop, fire), D(100)))
    assert (buy_back.leg, buy_back.side, buy_back.amount) == (Leg.EXIT, Side.BUY, D("0.010"))


def test_closing_cancels_every_leg_then_flattens_then_settles() -> None:
    stop = accept(placed(plan(long(entry()), D(100)))[0], "2")
    closing = long(entry(), stop, closing=True)
    assert plan(closing, D(100)) == [Cancel(stop.client_order_id)]
    cancelled = msgspec.structs.replace(stop, state=S.CANCELLED)
    (flat,) = placed(plan(long(entry(), cancelled, closing=True), D(100)))
    assert (flat.leg, flat.side, flat.amount, flat.kind) == (
        Leg.EXIT,
        Side.SELL,
        D("0.010"),
        OrderKind.MARKET,
    )
    flat = msgspec.structs.replace(flat, state=S.FILLED, filled=D("0.010"), average_price=D(99))
    assert plan(long(entry(), cancelled, flat, closing=True), D(99)) == [
        Settle(BracketState.CLOSED)
    ]


def test_nothing_is_planned_while_an_order_outcome_is_unknown() -> None:
    lost = msgspec.structs.replace(placed(plan(long(entry()), D(100)))[0], state=S.UNKNOWN)
    assert plan(long(entry(), lost), D(100)) == []


def test_several_targets_split_the_position() -> None:
    bracket = long(entry(), take_profits=((D(105), D("0.5")), (D(110), D("0.5"))))
    assert target_amounts(bracket) == (D("0.005"), D("0.005"))
    stop = accept(placed(plan(bracket, D(100)))[0], "2")
    bracket = with_order(bracket, stop)
    actions = plan(bracket, D(106))
    assert actions[0] == Cancel(stop.client_order_id)
    (first,) = placed(actions)
    assert (first.index, first.amount) == (0, D("0.005"))
    assert first.client_order_id != client_order_id(SID, Leg.TAKE_PROFIT, index=1)


def test_reported_checks_the_state_table() -> None:
    done = entry()
    status = OrderStatus(
        "1", done.client_order_id, "BTC/USDT", Side.BUY, OrderKind.MARKET, S.CANCELLED, D("0.010")
    )
    with pytest.raises(IllegalTransition):
        reported(done, status)


def test_a_short_bracket_mirrors_the_prices() -> None:
    sell = msgspec.structs.replace(entry(), side=Side.SELL)
    bracket = msgspec.structs.replace(
        long(sell), side=Side.SELL, take_profits=((D(90), D(1)),), stop_loss=D(105)
    )
    (stop,) = placed(plan(bracket, D(100)))
    assert (stop.side, stop.trigger_price) == (Side.BUY, D(105))
    stop = accept(stop, "2")
    actions = plan(with_order(bracket, stop), D(90))
    assert placed(actions)[0].side is Side.BUY


def test_a_trailing_stop_follows_the_best_price_and_never_loosens() -> None:
    bracket = long(entry(), take_profits=(), stop_loss=D(95), trailing_percent=D(5))
    up = trailed(bracket, D(120), NOW, RULES)
    assert (up.best_price, up.stop_loss) == (D(120), D(114))
    later = NOW + timedelta(seconds=60)
    assert trailed(up, D(110), later, RULES) is up  # a worse price moves nothing
    stop = accept(placed(plan(bracket, D(100)))[0], "2")
    actions = plan(with_order(up, stop), D(120))
    assert actions[0] == Cancel(stop.client_order_id)
    assert placed(actions)[0].trigger_price == D(114)


def test_a_stop_fill_after_reconciliation_took_the_position_off_buys_nothing_back() -> None:
    """Reconciliation took the bracket's 0.010 off (sold by hand, it read), then its stop turns
    out filled too: the venue sold what it had; no buy brings back coins nobody ordered."""
    stop = msgspec.structs.replace(
        accept(placed(plan(long(entry()), D(100)))[0], "2"),
        state=S.FILLED,
        filled=D("0.010"),
        average_price=D(95),
    )
    taken = long(entry(), stop, adjusted=D("-0.010"))
    assert taken.position == D("-0.010")

    assert placed(plan(taken, D(94))) == []
    assert plan(taken, D(94)) == [Settle(BracketState.CLOSED)]


def test_an_over_fill_is_bought_back_but_not_what_reconciliation_took_off() -> None:
    stop = msgspec.structs.replace(
        accept(placed(plan(long(entry()), D(100)))[0], "2"), state=S.FILLED, filled=D("0.010")
    )
    fire = LegOrder(Leg.TAKE_PROFIT, client_order_id(SID, Leg.TAKE_PROFIT), Side.SELL,
                    OrderKind.MARKET, D("0.004"), state=S.FILLED, order_id="3",
                    filled=D("0.004"), average_price=D(110))  # fmt: skip

    (buy_back,) = placed(plan(long(entry(), stop, fire, adjusted=D("-0.003")), D(100)))

    assert (buy_back.side, buy_back.amount) == (Side.BUY, D("0.004"))


# --- venues without stop orders: the stop-loss is watched ---------------------------------------


def test_a_watched_stop_rests_nothing_and_waits_above_the_stop() -> None:
    bracket = long(entry(), stop_watched=True)
    assert plan(bracket, D(100)) == []
    assert plan(bracket, D("95.01")) == []
    assert plan(bracket, None) == []  # no price: nothing to decide
    assert watched(bracket)


def test_a_watched_stop_sells_the_whole_position_at_market_once_reached() -> None:
    (fire,) = placed(plan(long(entry(), stop_watched=True), D(95)))
    assert (fire.leg, fire.kind, fire.side, fire.amount) == (
        Leg.STOP_LOSS,
        OrderKind.MARKET,
        Side.SELL,
        D("0.010"),
    )
    assert (fire.trigger_price, fire.reduce_only) == (None, False)
    assert fire.client_order_id == client_order_id(SID, Leg.STOP_LOSS, 0)


def test_a_short_watched_stop_buys_back_when_the_ask_rises_to_it() -> None:
    short_entry = msgspec.structs.replace(entry(), side=Side.SELL)
    bracket = msgspec.structs.replace(
        long(short_entry, stop_watched=True), side=Side.SELL, take_profits=((D(90), D(1)),),
        stop_loss=D(105),
    )  # fmt: skip
    assert plan(bracket, D(104)) == []
    (fire,) = placed(plan(bracket, D(105)))
    assert (fire.leg, fire.side, fire.amount) == (Leg.STOP_LOSS, Side.BUY, D("0.010"))


def test_a_fired_watched_stop_at_work_is_not_fired_again_and_its_rest_is() -> None:
    (fire,) = placed(plan(long(entry(), stop_watched=True), D(94)))
    working = accept(fire, "7")
    assert plan(long(entry(), working, stop_watched=True), D(93)) == []
    part = msgspec.structs.replace(working, state=S.EXPIRED, filled=D("0.004"), average_price=D(94))
    (again,) = placed(plan(long(entry(), part, stop_watched=True), D(93)))
    assert (again.leg, again.amount, again.revision) == (Leg.STOP_LOSS, D("0.006"), 1)
    done = msgspec.structs.replace(
        accept(again, "8"), state=S.FILLED, filled=D("0.006"), average_price=D(93)
    )
    assert plan(long(entry(), part, done, stop_watched=True), D(93)) == [
        Settle(BracketState.CLOSED)
    ]


def test_a_watched_stop_cancels_the_resting_legs_before_it_sells() -> None:
    stop, target = (
        accept(o, str(n))
        for n, o in enumerate(placed(plan(long(entry(), resting=True), D(100))), start=2)
    )
    bracket = long(entry(), target, resting=True, stop_watched=True)
    actions = plan(bracket, D(95))
    (fire,) = placed(actions)
    assert actions == [Cancel(target.client_order_id), Place(fire)]
    assert (fire.leg, fire.kind, fire.reduce_only) == (Leg.STOP_LOSS, OrderKind.MARKET, True)
    assert stop.leg is Leg.STOP_LOSS  # a resting-stop plan would have placed this one


def test_the_watched_target_still_fires_with_a_watched_stop() -> None:
    bracket = long(entry(), stop_watched=True)
    (fire,) = placed(plan(bracket, D(110)))
    assert (fire.leg, fire.kind, fire.amount) == (Leg.TAKE_PROFIT, OrderKind.MARKET, D("0.010"))
