from __future__ import annotations

import pytest

from app.domain.orders import (
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    Leg,
    OrderState,
    Side,
    client_order_id,
    transition,
)

S = OrderState


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.SUBMITTED, S.ACCEPTED),
        (S.SUBMITTED, S.UNKNOWN),
        (S.ACCEPTED, S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, S.FILLED),
        (S.ACCEPTED, S.CANCEL_PENDING),
        (S.CANCEL_PENDING, S.FILLED),  # the cancel lost the race to a fill
        (S.UNKNOWN, S.FILLED),  # resolved by looking it up
        (S.UNKNOWN, S.REJECTED),
        (S.FILLED, S.FILLED),
    ],
)
def test_allowed_transitions(current: OrderState, new: OrderState) -> None:
    assert transition(current, new) is new


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.FILLED, S.CANCELLED),
        (S.CANCELLED, S.FILLED),
        (S.REJECTED, S.ACCEPTED),
        (S.ACCEPTED, S.SUBMITTED),
        (S.ACCEPTED, S.REJECTED),
        (S.EXPIRED, S.PARTIALLY_FILLED),
    ],
)
def test_illegal_transitions_are_refused(current: OrderState, new: OrderState) -> None:
    with pytest.raises(IllegalTransition, match=f"from {current} to {new}"):
        transition(current, new)


def test_terminal_states_and_table_covers_every_state() -> None:
    assert set(TRANSITIONS) == set(OrderState)
    assert {S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED} == TERMINAL


def test_client_order_ids_are_deterministic_distinct_and_fit_binance() -> None:
    signal_id = "01JX5Z3K8Q4W2N7R9T1V3B5C7D"
    ids = {
        client_order_id(signal_id, leg, revision, index=index)
        for leg in Leg
        for revision in (0, 1, 10, 11)
        for index in (0, 1)
    }
    assert len(ids) == len(Leg) * 4 * 2  # index and revision never run into each other
    assert client_order_id(signal_id, Leg.ENTRY) == client_order_id(signal_id, Leg.ENTRY)
    assert all(len(i) <= 36 for i in ids)
    short = {client_order_id(signal_id, leg, revision, max_length=18) for leg in Leg
             for revision in range(50)}  # fmt: skip
    assert len(short) == len(Leg) * 50
    assert all(len(i) == 18 and i.startswith("sg") for i in short)
    assert client_order_id(signal_id, Leg.ENTRY, max_length=18) == client_order_id(
        signal_id, Leg.ENTRY, max_length=18
    )
    with pytest.raises(ValueError, match="at least 16 characters"):
        client_order_id(signal_id, Leg.ENTRY, max_length=12)
    with pytest.raises(ValueError, match="at most 10 take-profit targets"):
        client_order_id(signal_id, Leg.TAKE_PROFIT, index=10)


def test_client_order_ids_are_lower_case_for_a_venue_that_lowercases_them() -> None:
    """BingX keeps a client order id in lower case: the id sent is already what it shows."""
    signal_id = "01JX5Z3K8Q4W2N7R9T1V3B5C7D"
    ids = {client_order_id(signal_id, leg, revision, max_length=40, lowercase=True)
           for leg in Leg for revision in range(20)}  # fmt: skip

    assert len(ids) == len(Leg) * 20
    assert all(i == i.lower() for i in ids)
    assert client_order_id(signal_id, Leg.STOP_LOSS, 2, max_length=40, lowercase=True) == (
        client_order_id(signal_id, Leg.STOP_LOSS, 2, max_length=40).lower()
    )
    assert client_order_id(signal_id, Leg.ENTRY) != client_order_id(signal_id, Leg.ENTRY).lower()


def test_side_opposite() -> None:
    assert Side.BUY.opposite is Side.SELL
    assert Side.SELL.opposite is Side.BUY
