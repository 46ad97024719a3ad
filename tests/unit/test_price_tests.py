"""`price_tests` names every comparison with the exit price that `plan` makes: two prices whose
comparisons come out the same get the same plan, for brackets of every shape (long and short,
spot and resting legs, watched stops, targets partly sold, stops resting or fired, minimum costs
near the position's value). The bracket monitor skips planning a bracket again on that word, so
a comparison the planner makes and `price_tests` misses would leave a stop unfired."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.brackets.bracket import Bracket, LegOrder
from app.domain.brackets.planner import plan, price_tests
from app.domain.orders import Leg, OrderKind, OrderState, Side, client_order_id
from tests.unit.test_brackets import NOW, SID, SPOT

D = Decimal
STATES = [OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED, OrderState.FILLED,
          OrderState.CANCELLED]  # fmt: skip


@st.composite
def brackets(draw: st.DrawFn) -> Bracket:
    side = draw(st.sampled_from([Side.BUY, Side.SELL]))
    sign = 1 if side is Side.BUY else -1
    entry_price = D(100)
    filled = D(draw(st.integers(0, 20))) * D("0.001")
    market = msgspec.structs.replace(SPOT, min_cost=D(draw(st.sampled_from(["0.5", "1", "1.5"]))))
    targets = tuple(
        (entry_price + sign * D(draw(st.integers(1, 15))), D(share))
        for share in draw(st.sampled_from([["1"], ["0.5", "0.5"], ["0.3", "0.3", "0.4"]]))
    )
    orders = [
        LegOrder(Leg.ENTRY, client_order_id(SID, Leg.ENTRY), side, OrderKind.MARKET, D("0.020"),
                 state=OrderState.FILLED if filled else OrderState.ACCEPTED, order_id="e",
                 filled=filled, average_price=entry_price)
    ]  # fmt: skip
    for index in range(len(targets)):
        sold = D(draw(st.integers(0, 5))) * D("0.001")
        if sold and sold * (index + 1) < filled:
            orders.append(LegOrder(Leg.TAKE_PROFIT, client_order_id(SID, Leg.TAKE_PROFIT, index),
                                   side.opposite, OrderKind.MARKET, sold, index=index,
                                   state=OrderState.FILLED, order_id=f"t{index}", filled=sold,
                                   average_price=targets[index][0]))  # fmt: skip
    if draw(st.booleans()):  # a stop-loss order, resting or done
        state = draw(st.sampled_from(STATES))
        orders.append(LegOrder(Leg.STOP_LOSS, client_order_id(SID, Leg.STOP_LOSS), side.opposite,
                               OrderKind.STOP_MARKET, D("0.010"), state=state, order_id="s",
                               trigger_price=entry_price - sign * 5))  # fmt: skip
    stop = entry_price - sign * D(draw(st.integers(1, 10)))
    return Bracket(
        id=SID, account="default", venue="paper", symbol="BTC/USDT", side=side, market=market,
        opened_at=NOW, take_profits=targets, stop_loss=stop, resting_legs=draw(st.booleans()),
        stop_watched=draw(st.booleans()), orders=tuple(orders),
    )  # fmt: skip


# prices around every edge: the targets and stops (whole numbers near 100) and the minimum
# costs over the amounts (0.5 / 0.005 = 100, 1 / 0.011 = 90.9...)
prices = st.integers(8000, 12000).map(lambda cents: D(cents) / 100)


@settings(max_examples=3000, deadline=None)
@given(brackets(), prices, prices)
def test_prices_with_the_same_comparisons_get_the_same_plan(
    bracket: Bracket, one: Decimal, other: Decimal
) -> None:
    tests = price_tests(bracket)
    if tests is None or tests.outcome(one) != tests.outcome(other):
        return
    assert plan(bracket, one) == plan(bracket, other)


def test_a_final_closing_or_unsettled_bracket_is_planned_every_time() -> None:
    entry = LegOrder(Leg.ENTRY, client_order_id(SID, Leg.ENTRY), Side.BUY, OrderKind.MARKET,
                     D("0.010"), state=OrderState.FILLED, order_id="e", filled=D("0.010"),
                     average_price=D(100))  # fmt: skip
    bracket = Bracket(id=SID, account="default", venue="paper", symbol="BTC/USDT", side=Side.BUY,
                      market=SPOT, opened_at=NOW, orders=(entry,))  # fmt: skip
    assert price_tests(bracket) is not None
    assert price_tests(msgspec.structs.replace(bracket, closing=True)) is None
    unknown = msgspec.structs.replace(entry, state=OrderState.UNKNOWN)
    assert price_tests(msgspec.structs.replace(bracket, orders=(unknown,))) is None
