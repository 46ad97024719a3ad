"""Position drift (`POSITION_SYNC`): when an account has drifted from its TradingView strategy,
and the entry that takes it back where the strategy is (align)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.domain.dialects import parse_alert
from app.domain.position_sync import Aligned, aligned_entry, drift
from app.domain.signals import StrategyPosition

D = Decimal


def said(
    before: str | None, after: str | None = "long", size: str | None = "0.02"
) -> StrategyPosition:
    return StrategyPosition(after=after, before=before, size=None if size is None else D(size))


@pytest.mark.parametrize(
    ("before", "held", "why"),
    [
        ("flat", "0", None),
        ("long", "0.01", None),
        ("short", "-0.5", None),
        ("flat", "0.01", "the strategy was flat before this order but the account is long 0.01"),
        ("long", "0", "the strategy was long before this order but the account is flat"),
        ("long", "-0.01", "the strategy was long before this order but the account is short 0.01"),
        (None, "0.01", None),  # the alert does not say
    ],
)
def test_a_drift_is_the_account_not_on_the_side_the_strategy_was(
    before: str | None, held: str, why: str | None
) -> None:
    assert drift(said(before), D(held)) == why


def test_an_alert_without_positions_never_drifts() -> None:
    assert drift(None, D(1)) is None


@pytest.mark.parametrize(
    ("buying", "after", "size", "held", "multiplier", "quantity", "flatten"),
    [
        (True, "long", "0.02", "0.01", "1", "0.01", False),  # tops the long up to the target
        (True, "long", "0.01", "0.01", "1", "0", False),  # already there: nothing placed
        (True, "long", "0.01", "0.03", "1", "0", False),  # beyond it: no partial close
        (True, "long", "0.02", "-0.01", "1", "0.02", True),  # short: closed, then the target
        (True, "long", "0.02", "0.02", "2", "0.01", False),  # the account trades twice the size
        (False, "short", "0.02", "0", "1", "0.02", False),
        (False, "short", "0.02", "-0.005", "1", "0.015", False),
    ],
)
def test_align_sizes_the_entry_to_end_where_the_strategy_is(
    buying: bool, after: str, size: str, held: str, multiplier: str, quantity: str, flatten: bool
) -> None:
    aligned = aligned_entry(said("flat", after, size), buying, D(held), D(multiplier))

    assert isinstance(aligned, Aligned)
    assert (aligned.quantity, aligned.flatten) == (D(quantity), flatten)


@pytest.mark.parametrize(
    ("buying", "after", "size", "why"),
    [
        (
            True,
            "long",
            None,
            "the alert gives no market_position and market_position_size to align to",
        ),
        (
            True,
            "flat",
            None,
            "the alert gives no market_position and market_position_size to align to",
        ),
        (True, "short", "0.01", "a buy that leaves the strategy short"),
    ],
)
def test_align_says_why_it_cannot(buying: bool, after: str, size: str | None, why: str) -> None:
    assert aligned_entry(said("flat", after, size), buying, D(0), D(1)) == why


@pytest.mark.parametrize(
    ("body", "position"),
    [
        (
            '{"ticker": "BTCUSDT", "action": "buy", "contracts": "0.01", "market_position": "long",'
            ' "prev_market_position": "flat", "market_position_size": "0.01"}',
            StrategyPosition(after="long", before="flat", size=D("0.01")),
        ),
        (
            '{"ticker": "BTCUSDT", "action": "sell", "contracts": "0.01",'
            ' "market_position": "flat", "prev_market_position": "long",'
            ' "market_position_size": "0"}',
            StrategyPosition(after="flat", before="long"),
        ),
        ('{"ticker": "BTCUSDT", "action": "buy", "contracts": "0.01"}', None),
        (
            '{"secret": "x", "tv_instrument": "BTCUSDT", "action": "enter_long", "strategy_info":'
            ' {"market_position": "long", "prev_market_position": "short",'
            ' "market_position_size": "1"}}',
            StrategyPosition(after="long", before="short", size=D(1)),
        ),
    ],
)
def test_tradingview_and_3commas_alerts_carry_the_strategy_position(
    body: str, position: StrategyPosition | None
) -> None:
    assert parse_alert(body.encode()).signal.strategy_position == position
