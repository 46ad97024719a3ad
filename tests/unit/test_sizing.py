"""Position sizing: every mode, the cap on computed sizes, truncation to the step, minimums."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.market import Market
from app.domain.signals import QtyMode
from app.domain.sizing import (
    Sized,
    SizingPolicy,
    SizingRequest,
    Unsizable,
    number_text,
    size,
)

D = Decimal
BTC = Market(
    "BTC/USDT", "BTC", "USDT", amount_step=D("0.0001"), min_amount=D("0.0001"), min_cost=D(5)
)
POLICY = SizingPolicy()  # quote 100 by default, computed sizes capped at 1,000
EQUITY = D(50_000)
PRICE = D(65_000)


def request(
    mode: QtyMode, quantity: str | None, stop: str | None = None, equity: Decimal = EQUITY
) -> SizingRequest:
    return SizingRequest(
        mode=mode,
        quantity=None if quantity is None else D(quantity),
        entry_price=PRICE,
        stop_price=None if stop is None else D(stop),
        equity=equity,
    )


# (request, amount, explanation)
SIZED = [
    (
        request(QtyMode.BASE, "0.0153"),
        "0.0153",
        "0.0153 BTC as given, 994.50 USDT at 65,000",
    ),
    (
        request(QtyMode.BASE, "0.01538"),
        "0.0153",
        "0.01538 BTC as given, truncated to 0.0153 (step 0.0001), 994.50 USDT at 65,000",
    ),
    (  # given, so not capped: the risk gate says why it is too large
        request(QtyMode.BASE, "2"),
        "2",
        "2 BTC as given, 130,000.00 USDT at 65,000",
    ),
    (
        request(QtyMode.QUOTE, "650"),
        "0.01",
        "650 USDT at 65,000 -> 0.01 BTC",
    ),
    (
        request(QtyMode.QUOTE, "100"),
        "0.0015",
        "100 USDT at 65,000 -> 0.00153 BTC, truncated to 0.0015 (step 0.0001)",
    ),
    (
        request(QtyMode.QUOTE, "5000"),
        "0.0769",
        "5,000 USDT at 65,000 -> 0.07692 BTC, truncated to 0.0769 (step 0.0001)",
    ),
    (
        request(QtyMode.PERCENT_EQUITY, "2"),
        "0.0153",
        "2% of equity 50,000 USDT = 1,000 USDT at 65,000 -> 0.01538 BTC, truncated to 0.0153 "
        "(step 0.0001)",
    ),
    (
        request(QtyMode.PERCENT_EQUITY, "20"),
        "0.0153",
        "20% of equity 50,000 USDT = 10,000 USDT, capped to the 1,000 USDT maximum order "
        "notional, at 65,000 -> 0.01538 BTC, truncated to 0.0153 (step 0.0001)",
    ),
    (
        request(QtyMode.RISK_PERCENT, "0.01", stop="63700"),
        "0.0038",
        "0.01% of equity 50,000 USDT = 5 USDT at risk over the distance 1,300 from entry 65,000 "
        "to stop 63,700 -> 0.00384 BTC, truncated to 0.0038 (step 0.0001)",
    ),
    (  # a short's stop is above the entry: the distance is what counts
        request(QtyMode.RISK_PERCENT, "0.013", stop="66300"),
        "0.005",
        "0.013% of equity 50,000 USDT = 6.5 USDT at risk over the distance 1,300 from entry "
        "65,000 to stop 66,300 -> 0.005 BTC",
    ),
    (
        request(QtyMode.RISK_PERCENT, "1", stop="63700"),
        "0.0153",
        "1% of equity 50,000 USDT = 500 USDT at risk over the distance 1,300 from entry 65,000 "
        "to stop 63,700, 25,000.00 USDT of notional, capped to the 1,000 USDT maximum order "
        "notional -> 0.01538 BTC, truncated to 0.0153 (step 0.0001)",
    ),
    (  # no quantity: the policy's mode and quantity
        request(QtyMode.PERCENT_EQUITY, None),
        "0.0015",
        "100 USDT at 65,000 -> 0.00153 BTC, truncated to 0.0015 (step 0.0001)",
    ),
]


@pytest.mark.parametrize(("request_", "amount", "explanation"), SIZED)
def test_every_mode_sizes_and_says_how(
    request_: SizingRequest, amount: str, explanation: str
) -> None:
    assert size(request_, BTC, POLICY) == Sized(D(amount), D(amount) * PRICE, explanation)


def test_the_default_mode_and_quantity_come_together_from_the_policy() -> None:
    policy = SizingPolicy(default_mode=QtyMode.PERCENT_EQUITY, default_quantity=D(1))
    sized = size(request(QtyMode.BASE, None), BTC, policy)
    assert isinstance(sized, Sized)
    assert sized.explanation.startswith("1% of equity 50,000 USDT = 500 USDT")


def test_the_cap_comes_from_the_policy() -> None:
    sized = size(
        request(QtyMode.PERCENT_EQUITY, "10"), BTC, SizingPolicy(max_order_notional=D(3250))
    )
    assert sized == Sized(
        D("0.05"),
        D(3250),
        "10% of equity 50,000 USDT = 5,000 USDT, capped to the 3,250 USDT maximum order "
        "notional, at 65,000 -> 0.05 BTC",
    )


UNSIZABLE = [
    (
        request(QtyMode.QUOTE, "1"),
        "1 USDT at 65,000 -> 0.00001 BTC, truncated to 0 (step 0.0001), below BTC/USDT's minimum "
        "amount of 0.0001 BTC",
    ),
    (
        request(QtyMode.BASE, "0.00005"),
        "0.00005 BTC as given, truncated to 0 (step 0.0001), 0.00 USDT at 65,000, below "
        "BTC/USDT's minimum amount of 0.0001 BTC",
    ),
    (
        request(QtyMode.QUOTE, "6.6"),
        "6.6 USDT at 65,000 -> 0.00010 BTC, truncated to 0.0001 (step 0.0001), an order of "
        "6.50 USDT, below BTC/USDT's minimum of 10 USDT",
    ),
    (
        request(QtyMode.RISK_PERCENT, "1"),
        "a risk_percent size needs a stop-loss price away from the entry 65,000; add a stop-loss "
        "to the alert or use another mode",
    ),
    (
        request(QtyMode.RISK_PERCENT, "1", stop="65000"),
        "a risk_percent size needs a stop-loss price away from the entry 65,000; add a stop-loss "
        "to the alert or use another mode",
    ),
    (
        request(QtyMode.PERCENT_EQUITY, "2", equity=D(0)),
        "a percent_equity size needs the account equity, and it is 0 USDT",
    ),
    (
        request(QtyMode.PERCENT_EQUITY, "150"),
        "a percent_equity quantity is a percent from 0 to 100, not 150",
    ),
    (request(QtyMode.QUOTE, "0"), "the quote quantity must be a finite number above 0, not 0"),
    (
        request(QtyMode.BASE, "NaN"),
        "the base quantity must be a finite number above 0, not NaN",
    ),
    (
        msgspec.structs.replace(request(QtyMode.QUOTE, "100"), entry_price=D("Infinity")),
        "the entry price must be a finite number above 0, not Infinity",
    ),
    (request(QtyMode.BASE, "1e30"), "1,000,000,000,000,000,000,000,000,000,000 BTC is too large"),
]


@pytest.mark.parametrize(("request_", "reason"), UNSIZABLE)
def test_what_cannot_be_sized_says_why(request_: SizingRequest, reason: str) -> None:
    market = msgspec.structs.replace(BTC, min_cost=D(10))
    result = size(request_, market, POLICY)
    assert isinstance(result, Unsizable)
    assert result.reason.startswith(reason)


@pytest.mark.parametrize(
    ("value", "places", "text"),
    [
        (D("1250"), 2, "1,250.00"),
        (D("1E+3"), None, "1,000"),
        (D("0.015300"), None, "0.0153"),
        (D("994.5000"), 2, "994.50"),
    ],
)
def test_numbers_read_as_people_write_them(value: Decimal, places: int | None, text: str) -> None:
    assert number_text(value, places) == text


STEPS = st.sampled_from([D("0.001"), D("0.0001"), D("0.00001"), D("0.1"), D(1), D(5)])
PRICES = st.decimals(min_value=D("0.0001"), max_value=D(200_000), places=4)
PERCENTS = st.decimals(min_value=D("0.01"), max_value=D(100), places=2)
MONEY = st.decimals(min_value=D(1), max_value=D(10_000_000), places=2)


@given(
    step=STEPS,
    price=PRICES,
    stop_offset=st.decimals(min_value=D("0.0001"), max_value=D("0.5"), places=4),
    percent=PERCENTS,
    equity=MONEY,
    cap=MONEY,
    mode=st.sampled_from([QtyMode.PERCENT_EQUITY, QtyMode.RISK_PERCENT]),
)
def test_a_computed_size_is_a_multiple_of_the_step_and_never_above_the_cap(
    step: Decimal,
    price: Decimal,
    stop_offset: Decimal,
    percent: Decimal,
    equity: Decimal,
    cap: Decimal,
    mode: QtyMode,
) -> None:
    market = Market("X/USDT", "X", "USDT", amount_step=step)
    sizing = SizingRequest(mode, percent, price, price * (1 - stop_offset), equity)
    result = size(sizing, market, SizingPolicy(max_order_notional=cap))
    if isinstance(result, Sized):
        assert result.amount > 0
        assert result.amount % step == 0
        assert result.notional == result.amount * price
        assert result.notional <= cap
    else:
        assert "below X/USDT's minimum amount" in result.reason  # truncated to 0


@given(step=STEPS, price=PRICES, amount=MONEY)
def test_a_given_size_is_truncated_to_the_step_and_not_capped(
    step: Decimal, price: Decimal, amount: Decimal
) -> None:
    market = Market("X/USDT", "X", "USDT", amount_step=step)
    result = size(SizingRequest(QtyMode.BASE, amount, price, None, D(0)), market, POLICY)
    if isinstance(result, Sized):
        assert result.amount % step == 0
        assert amount - step < result.amount <= amount
    else:
        assert amount < step
