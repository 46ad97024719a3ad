from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.market import Market
from app.domain.orders import Side
from app.domain.signals import Action, Signal, StopKind, StopLoss, TakeProfit
from app.domain.targets import Targets, bracket_targets, split_amount, trailing_stop

D = Decimal
MARKET = Market("BTC/USDT", "BTC", "USDT", amount_step=D("0.001"), price_step=D("0.01"))


def signal(*take_profits: TakeProfit, stop: StopLoss | None = None) -> Signal:
    return Signal(
        "BTC/USDT", Action.BUY, "strategy:test", take_profits=take_profits, stop_loss=stop
    )


def targets(
    *take_profits: TakeProfit,
    stop: StopLoss | None = None,
    side: Side = Side.BUY,
    entry: str = "100",
) -> Targets:
    return bracket_targets(signal(*take_profits, stop=stop), side, D(entry), MARKET)


@pytest.mark.parametrize(
    ("side", "entry", "take_profit", "stop", "expected"),
    [
        (
            Side.BUY,
            "100",
            TakeProfit(percent=D(2)),
            StopLoss(StopKind.PERCENT, D(1)),
            ("102", "99"),
        ),
        (
            Side.SELL,
            "100",
            TakeProfit(percent=D(2)),
            StopLoss(StopKind.PERCENT, D(1)),
            ("98", "101"),
        ),
        (Side.BUY, "100", TakeProfit(price=D(110)), StopLoss(StopKind.PRICE, D(95)), ("110", "95")),
        (
            Side.SELL,
            "100",
            TakeProfit(price=D(90)),
            StopLoss(StopKind.PRICE, D(105)),
            ("90", "105"),
        ),
        # 101.37 x 1.015 = 102.89055 and 101.37 x 0.985 = 99.84945: each rounded away from entry.
        (
            Side.BUY,
            "101.37",
            TakeProfit(percent=D("1.5")),
            StopLoss(StopKind.PERCENT, D("1.5")),
            ("102.90", "99.84"),
        ),
        (
            Side.SELL,
            "101.37",
            TakeProfit(percent=D("1.5")),
            StopLoss(StopKind.PERCENT, D("1.5")),
            ("99.84", "102.90"),
        ),
        # Distances in price units from the entry, rounded away from it too.
        (
            Side.BUY,
            "100",
            TakeProfit(distance=D("2.5")),
            StopLoss(StopKind.DISTANCE, D("1.25")),
            ("102.5", "98.75"),
        ),
        (
            Side.SELL,
            "100",
            TakeProfit(distance=D("2.5")),
            StopLoss(StopKind.DISTANCE, D("1.25")),
            ("97.5", "101.25"),
        ),
        (
            Side.BUY,
            "101.373",
            TakeProfit(distance=D("1.001")),
            StopLoss(StopKind.DISTANCE, D("1.001")),
            ("102.38", "100.37"),
        ),
        (
            Side.BUY,
            "100",
            TakeProfit(price=D("105.001")),
            StopLoss(StopKind.PRICE, D("95.009")),
            ("105.01", "95.00"),
        ),
        (
            Side.SELL,
            "100",
            TakeProfit(price=D("94.999")),
            StopLoss(StopKind.PRICE, D("105.001")),
            ("94.99", "105.01"),
        ),
    ],
)
def test_prices_from_the_entry_rounded_away_from_it(
    side: Side, entry: str, take_profit: TakeProfit, stop: StopLoss, expected: tuple[str, str]
) -> None:
    result = targets(take_profit, stop=stop, side=side, entry=entry)
    assert result == Targets(((D(expected[0]), D(1)),), D(expected[1]))


def test_a_take_profit_just_past_the_entry_never_rounds_onto_it() -> None:
    # 100.001 x 1.00001 = 100.002 rounds to 100.00 at the nearest step: below the entry.
    long = targets(TakeProfit(percent=D("0.001")), entry="100.001")
    short = targets(TakeProfit(percent=D("0.001")), side=Side.SELL, entry="100.001")
    assert long.take_profits[0][0] == D("100.01")
    assert short.take_profits[0][0] == D("99.99")


@pytest.mark.parametrize(
    ("side", "stop", "expected_stop"),
    [(Side.BUY, "95", "95"), (Side.SELL, "105", "105")],
)
def test_trailing_stop_starts_at_its_distance(side: Side, stop: str, expected_stop: str) -> None:
    result = targets(stop=StopLoss(StopKind.TRAILING, D(5)), side=side)
    assert result == Targets((), D(expected_stop), trailing_percent=D(5))


def test_no_targets_without_take_profits_or_stop() -> None:
    assert targets() == Targets((), None)


@pytest.mark.parametrize(
    ("take_profit", "stop", "side", "message"),
    [
        (TakeProfit(price=D(99)), None, Side.BUY, "the take-profit 99 is not above the long entry"),
        (TakeProfit(price=D(101)), None, Side.SELL, "is not between 0 and the short entry"),
        (TakeProfit(percent=D(100)), None, Side.SELL, "is not between 0 and the short entry"),
        (None, StopLoss(StopKind.PRICE, D(101)), Side.BUY, "is not between 0 and the long entry"),
        (None, StopLoss(StopKind.PRICE, D(99)), Side.SELL, "is not above the short entry"),
        (TakeProfit(), None, Side.BUY, "neither a price, a percent nor a distance"),
        (TakeProfit(price=D(110), percent=D(2)), None, Side.BUY, "more than one of a price"),
        (TakeProfit(percent=D(2), distance=D(5)), None, Side.BUY, "more than one of a price"),
        (TakeProfit(percent=D(-2)), None, Side.BUY, "take-profit percent must be a positive"),
        (TakeProfit(distance=D(0)), None, Side.BUY, "take-profit distance must be a positive"),
        (TakeProfit(distance=D(100)), None, Side.SELL, "is not between 0 and the short entry"),
        (None, StopLoss(StopKind.DISTANCE, D(100)), Side.BUY, "not between 0 and the long entry"),
        (None, StopLoss(StopKind.DISTANCE, D(-1)), Side.SELL, "distance must be a positive"),
    ],
)
def test_targets_on_the_wrong_side_are_refused(
    take_profit: TakeProfit | None, stop: StopLoss | None, side: Side, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        targets(*(() if take_profit is None else (take_profit,)), stop=stop, side=side)


def test_a_long_stop_percent_of_100_is_refused_with_a_clear_sentence() -> None:
    with pytest.raises(ValueError, match="the stop-loss 0 is not between 0 and the long entry"):
        targets(stop=StopLoss(StopKind.PERCENT, D(100)))


@pytest.mark.parametrize(
    ("shares", "expected"),
    [
        ((D(1),), (D(1),)),
        ((D(1), D(1)), (D("0.5"), D("0.5"))),
        ((D("0.6"), D("0.6")), (D("0.5"), D("0.5"))),
        ((D("0.25"), D("0.25")), (D("0.25"), D("0.25"))),
        ((D("0.3"), D("0.5")), (D("0.3"), D("0.5"))),
    ],
)
def test_shares(shares: tuple[Decimal, ...], expected: tuple[Decimal, ...]) -> None:
    tps = [TakeProfit(percent=D(i + 1), share=share) for i, share in enumerate(shares)]
    assert tuple(share for _, share in targets(*tps).take_profits) == expected


def test_three_default_shares_split_evenly_and_sum_to_exactly_one() -> None:
    result = targets(*(TakeProfit(percent=D(p)) for p in (1, 2, 3)))
    shares = [share for _, share in result.take_profits]
    assert sum(shares) == 1
    assert max(shares) - min(shares) < D("1e-20")
    assert [price for price, _ in result.take_profits] == [D(101), D(102), D(103)]


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ((D("0.6"), D("0.7")), "the take-profit shares sum to 1.3; make them sum to 1 or less"),
        ((D(0),), "a take-profit share must be above 0 and at most 1, not 0"),
        ((D("1.5"),), "a take-profit share must be above 0 and at most 1, not 1.5"),
    ],
)
def test_shares_that_cannot_be_met_are_refused(shares: tuple[Decimal, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        targets(*(TakeProfit(percent=D(1), share=share) for share in shares))


MINIMUMS = Market(
    "BTC/USDT",
    "BTC",
    "USDT",
    amount_step=D("0.001"),
    min_amount=D("0.002"),
    min_cost=D(10),
)


@pytest.mark.parametrize(
    ("amount", "shares", "prices", "expected"),
    [
        ("1", ("0.5", "0.5"), None, ("0.5", "0.5")),
        ("1", ("1", "1", "1"), None, ("0.333", "0.333", "0.334")),
        ("1", ("0.25", "0.25"), None, ("0.5", "0.5")),  # proportional: the legs close `amount`
        ("0.010", ("0.9", "0.1"), None, ("0.010", "0")),  # 0.001 < min_amount: merged back
        ("0.010", ("0.1", "0.9"), None, ("0", "0.010")),  # the first leg merges forward
        ("0.010", ("0.1", "0.1", "0.8"), None, ("0.002", "0", "0.008")),
        ("0.100", ("0.5", "0.5"), ("100", "300"), ("0", "0.100")),  # 0.05 x 100 < min_cost 10
        ("0.100", ("0.5", "0.5"), ("300", "100"), ("0.100", "0")),
        ("0.100", ("0.5", "0.5"), ("200", "200"), ("0.050", "0.050")),
        ("0.001", ("0.5", "0.5"), None, ("0.001", "0")),  # all below: one leg keeps the amount
    ],
)
def test_split_amount(
    amount: str, shares: tuple[str, ...], prices: tuple[str, ...] | None, expected: tuple[str, ...]
) -> None:
    legs = split_amount(
        D(amount),
        [D(s) for s in shares],
        MINIMUMS,
        None if prices is None else [D(p) for p in prices],
    )
    assert legs == tuple(D(e) for e in expected)


@pytest.mark.parametrize(
    ("amount", "shares", "prices", "message"),
    [
        ("0.0015", ["1"], None, "must be a positive multiple of 0.001, not 0.0015"),
        ("0", ["1"], None, "must be a positive multiple"),
        ("1", [], None, "the shares to split by"),
        ("1", ["0"], None, "the shares to split by"),
        ("1", ["-1", "2"], None, "the shares to split by"),
        ("1", ["1"], ["1", "2"], "2 prices were given for 1 shares"),
    ],
)
def test_split_amount_refuses(
    amount: str, shares: list[str], prices: list[str] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        split_amount(
            D(amount),
            [D(s) for s in shares],
            MINIMUMS,
            None if prices is None else list(map(D, prices)),
        )


steps = st.integers(min_value=1, max_value=10**7)
share_lists = st.lists(
    st.decimals(min_value=D(0), max_value=D(1), places=4, allow_nan=False), min_size=1, max_size=6
).filter(lambda shares: sum(shares) > 0)


@given(units=steps, shares=share_lists, price=st.integers(min_value=1, max_value=100_000))
def test_split_legs_always_sum_to_the_amount_and_meet_the_minimums(
    units: int, shares: list[Decimal], price: int
) -> None:
    amount = units * MINIMUMS.amount_step
    prices = [D(price)] * len(shares)
    legs = split_amount(amount, shares, MINIMUMS, prices)
    assert sum(legs) == amount
    assert len(legs) == len(shares)
    assert all(leg >= 0 and leg % MINIMUMS.amount_step == 0 for leg in legs)
    placed = [leg for leg in legs if leg]
    assert placed
    if len(placed) > 1:
        assert all(
            leg >= MINIMUMS.min_amount and leg * price >= MINIMUMS.min_cost for leg in placed
        )


@pytest.mark.parametrize(
    ("side", "stop", "best", "expected"),
    [
        (Side.BUY, "95", "110", "104.50"),  # moved up behind the high
        (Side.BUY, "95", "99", "95"),  # would loosen: kept
        (Side.BUY, "95", "100.003", "95.00"),  # 95.00285 floors to 95.00: not above, kept
        (Side.BUY, "95", "100.02", "95.01"),  # 95.019 floors to 95.01
        (Side.SELL, "105", "90", "94.50"),  # moved down behind the low
        (Side.SELL, "105", "101", "105"),
        (Side.SELL, "105", "99.99", "104.99"),  # 104.9895 ceils to 104.99
    ],
)
def test_trailing_stop(side: Side, stop: str, best: str, expected: str) -> None:
    assert trailing_stop(side, D(stop), D(best), D(5), MARKET) == D(expected)


@given(
    prices=st.lists(
        st.decimals(min_value=D(1), max_value=D(100_000), places=2, allow_nan=False),
        min_size=1,
        max_size=30,
    ),
    percent=st.decimals(min_value=D("0.1"), max_value=D(50), places=1),
    side=st.sampled_from(Side),
)
def test_trailing_stop_never_loosens(prices: list[Decimal], percent: Decimal, side: Side) -> None:
    long = side is Side.BUY
    stop = D(1) if long else D(10**7)
    best = prices[0]
    for price in prices:
        best = max(best, price) if long else min(best, price)
        moved = trailing_stop(side, stop, best, percent, MARKET)
        assert (moved >= stop) if long else (moved <= stop)
        assert moved == stop or moved % MARKET.price_step == 0
        if moved != stop:  # never tighter than asked: at least `percent` from the best price
            distance = best * percent / 100
            assert (best - moved >= distance) if long else (moved - best >= distance)
        stop = moved


def test_trailing_stop_refuses_a_percent_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="the trailing percent must be a positive number"):
        trailing_stop(Side.BUY, D(95), D(100), D(0), MARKET)
