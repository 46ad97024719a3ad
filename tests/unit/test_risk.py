"""The risk gate: each check passing and failing, with its reason; failures listed together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from app.domain.market import Market, MarketKind
from app.domain.orders import Side
from app.domain.reservations import Committed
from app.domain.risk import Approved, Denied, check, check_before_sizing
from app.domain.risk_values import (
    AccountSnapshot,
    CheckName,
    CheckResult,
    OpenPosition,
    RiskLimits,
    RiskRequest,
    TradingState,
)

D = Decimal
replace = msgspec.structs.replace
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SPOT = Market(
    "BTC/USDT", "BTC", "USDT", amount_step=D("0.0001"), min_amount=D("0.0001"), min_cost=D(5)
)
SWAP = Market(
    "BTC/USDT:USDT",
    "BTC",
    "USDT",
    kind=MarketKind.SWAP,
    settle="USDT",
    amount_step=D("0.001"),
    min_amount=D("0.001"),
)
# A 650 USDT long entry that passes every check under the default limits.
ENTRY = RiskRequest(
    symbol="BTC/USDT",
    side=Side.BUY,
    amount=D("0.01"),
    price=D(65_000),
    reduces=False,
    market=SPOT,
    venue="paper",
    free_quote=D(10_000),
    free_base=D(0),
    alert_price=D(65_100),
    market_price=D(65_000),
    take_profits=(D(68_000), D(70_000)),
    stop_loss=D(63_000),
)
LONG = OpenPosition("paper", "BTC/USDT", D("0.01"), D(60_000), D(65_000))
SHORT = OpenPosition("paper", "BTC/USDT", D("-0.01"), D(66_000), D(65_000))
# Selling 0.01 BTC to close the long above.
EXIT = replace(
    ENTRY, side=Side.SELL, reduces=True, free_base=D("0.01"), take_profits=(), stop_loss=None
)
ACTIVE = AccountSnapshot("main", TradingState.ACTIVE)
HOLDING = replace(ACTIVE, positions=(LONG,))
LIMITS = RiskLimits()
STOP_REQUIRED = RiskLimits(require_stop_loss=True)
NO_UNREALIZED = RiskLimits(daily_loss_counts_unrealized=False)
ALL_CHECKS = [
    "trading_state", "symbol_list", "max_daily_loss", "stop_loss_cooldown", "orders_per_minute",
    "max_order_notional", "max_total_exposure", "max_open_positions", "price_band",
    "venue_minimums", "free_balance", "reduce_only", "tp_sl_sanity", "stop_loss_required",
]  # fmt: skip


def entry(**changes: Any) -> RiskRequest:
    return replace(ENTRY, **changes)


def exit_(**changes: Any) -> RiskRequest:
    return replace(EXIT, **changes)


def account(**changes: Any) -> AccountSnapshot:
    return replace(ACTIVE, **changes)


def others(count: int) -> tuple[OpenPosition, ...]:
    """`count` positions of 100 USDT each, none in BTC/USDT."""
    return tuple(OpenPosition("paper", f"C{i}/USDT", D(1), D(100), D(100)) for i in range(count))


def waiting(count: int) -> tuple[Committed, ...]:
    """`count` entries of 100 USDT each not filled yet, none in BTC/USDT or the `others`."""
    return tuple(Committed("paper", f"W{i}/USDT", D(100)) for i in range(count))


def result_of(
    name: str,
    request: RiskRequest,
    snapshot: AccountSnapshot = ACTIVE,
    limits: RiskLimits = LIMITS,
) -> CheckResult:
    [result] = [c for c in check(request, snapshot, limits, NOW).checks if c.name == name]
    return result


def test_a_sound_entry_is_approved_with_every_check_listed_in_order() -> None:
    decision = check(ENTRY, ACTIVE, LIMITS, NOW)
    assert isinstance(decision, Approved)
    assert [c.name for c in decision.checks] == ALL_CHECKS
    assert all(c.passed for c in decision.checks)
    assert [c.name for c in decision.checks] == [str(n) for n in CheckName if n != "order_values"]


def test_a_sound_exit_is_approved() -> None:
    assert isinstance(check(EXIT, HOLDING, LIMITS, NOW), Approved)


# (check, request, snapshot, limits, passed, a fragment of the detail)
CASES: list[tuple[str, RiskRequest, AccountSnapshot, RiskLimits, bool, str]] = [
    # trading_state
    ("trading_state", ENTRY, ACTIVE, LIMITS, True, "account main is active"),
    ("trading_state", ENTRY, account(trading_state=TradingState.HALTED), LIMITS, False,
     "trading is halted for account main: nothing is placed"),
    ("trading_state", EXIT, account(trading_state=TradingState.HALTED, positions=(LONG,)),
     LIMITS, False, "trading is halted"),
    ("trading_state", ENTRY, account(trading_state=TradingState.REDUCING), LIMITS, False,
     "account main is reducing only: entries are refused, exits allowed"),
    ("trading_state", EXIT, account(trading_state=TradingState.REDUCING, positions=(LONG,)),
     LIMITS, True, "account main is reducing_only"),
    # symbol_list
    ("symbol_list", ENTRY, ACTIVE, LIMITS, True, "BTC/USDT may be traded"),
    ("symbol_list", ENTRY, ACTIVE, RiskLimits(allow_symbols=frozenset({"BTC/USDT"})), True,
     "may be traded"),
    ("symbol_list", ENTRY, ACTIVE,
     RiskLimits(allow_symbols=frozenset({"ETH/USDT", "SOL/USDT"})), False,
     "BTC/USDT is not in the allow list (ETH/USDT, SOL/USDT) (SYMBOLS_ALLOW)"),
    ("symbol_list", ENTRY, ACTIVE, RiskLimits(deny_symbols=frozenset({"BTC/USDT"})), False,
     "BTC/USDT is in the deny list (SYMBOLS_DENY)"),
    ("symbol_list", ENTRY, ACTIVE, RiskLimits(deny_symbols=frozenset({"BTC/USDT:USDT"})), True,
     "may be traded"),
    # max_order_notional (entries)
    ("max_order_notional", ENTRY, ACTIVE, LIMITS, True,
     "order notional 650.00 USDT is within the 1,000 limit"),
    ("max_order_notional", entry(amount=D("0.02"), price=D(50_000)), ACTIVE, LIMITS, True,
     "order notional 1,000.00 USDT is within"),
    ("max_order_notional", entry(amount=D("0.02")), ACTIVE, LIMITS, False,
     "order notional 1,300.00 USDT is above the 1,000 limit (MAX_ORDER_NOTIONAL)"),
    ("max_order_notional", exit_(amount=D(1)), account(positions=(replace(LONG, amount=D(1)),)),
     LIMITS, True, "not an entry"),
    # max_total_exposure (entries)
    ("max_total_exposure", ENTRY, account(positions=others(43)), RiskLimits(max_open_positions=50),
     True, "open positions 4,300.00 + this order 650.00 = 4,950.00 USDT of exposure is within"),
    ("max_total_exposure", ENTRY, account(positions=others(44)), RiskLimits(max_open_positions=50),
     False, "= 5,050.00 USDT of exposure is above the 5,000 limit (MAX_TOTAL_EXPOSURE)"),
    ("max_total_exposure", EXIT, account(positions=(LONG, *others(60))), LIMITS, True,
     "not an entry"),
    ("max_total_exposure", ENTRY, account(positions=others(40), committed=waiting(4)),
     RiskLimits(max_open_positions=50), False, "open positions 4,000.00 + entries not filled yet"
     " 400.00 + this order 650.00 = 5,050.00 USDT of exposure is above the 5,000 limit"),
    # max_open_positions (only when the entry opens a new position)
    ("max_open_positions", ENTRY, account(positions=others(4)), LIMITS, True,
     "opens position 5 of 5 in BTC/USDT on paper"),
    ("max_open_positions", ENTRY, account(positions=others(5)), LIMITS, False,
     "5 positions are open and the limit is 5 (MAX_OPEN_POSITIONS), so no new position in "
     "BTC/USDT on paper"),
    ("max_open_positions", ENTRY, account(positions=(LONG, *others(4))), LIMITS, True,
     "adds to the open position in BTC/USDT on paper"),
    ("max_open_positions", ENTRY, account(positions=(replace(LONG, venue="binance"), *others(4))),
     LIMITS, False, "5 positions are open"),
    ("max_open_positions", ENTRY, account(positions=(replace(LONG, amount=D(0)), *others(4))),
     LIMITS, True, "opens position 5 of 5"),
    ("max_open_positions", EXIT, account(positions=(LONG, *others(9))), LIMITS, True,
     "not an entry"),
    ("max_open_positions", ENTRY, account(positions=others(3), committed=waiting(2)), LIMITS,
     False, "5 positions are open (2 of them entries not filled yet) and the limit is 5"),
    ("max_open_positions", ENTRY, account(positions=others(3), committed=(*waiting(1),
     Committed("paper", "BTC/USDT", D(650), on_its_way=True))), LIMITS, True,
     "adds to the open position in BTC/USDT on paper"),
    ("max_open_positions", ENTRY, account(positions=others(3), committed=waiting(1) * 2), LIMITS,
     True, "opens position 5 of 5"),  # two entries on one symbol and venue: one position
    # max_daily_loss (entries)
    ("max_daily_loss", ENTRY, account(realized_pnl_today=D("-499.99")), LIMITS, True,
     "today's loss 499.99 USDT (realized -499.99, open positions 0.00) is under the 500 limit"),
    ("max_daily_loss", ENTRY, account(realized_pnl_today=D(120)), LIMITS, True,
     "today's loss 0.00 USDT"),
    ("max_daily_loss", ENTRY, account(realized_pnl_today=D(-500)), LIMITS, False,
     "today's loss 500.00 USDT (realized -500.00, open positions 0.00) is at or over the 500"
     " limit (MAX_DAILY_LOSS)"),
    # open positions count at their marks (DAILY_LOSS_COUNTS_UNREALIZED, on by default)
    ("max_daily_loss", ENTRY, account(realized_pnl_today=D(-300), unrealized_pnl=D(-200)),
     LIMITS, False, "today's loss 500.00 USDT (realized -300.00, open positions -200.00) is at"),
    ("max_daily_loss", ENTRY, account(realized_pnl_today=D(-300), unrealized_pnl=D(-200)),
     NO_UNREALIZED, True, "realized loss today 300.00 USDT is under the 500 limit"),
    ("max_daily_loss", ENTRY, account(unrealized_pnl=D(-10), unpriced=("ETH/USDT on paper",)),
     LIMITS, True, "open positions -10.00; ETH/USDT on paper unpriced) is under"),
    ("max_daily_loss", ENTRY, account(unconverted=("BTC",)), LIMITS, False,
     "no venue quotes BTC/USDT, so P&L in BTC cannot be counted toward MAX_DAILY_LOSS in USDT:"
     " add a venue that lists BTC/USDT, or set ACCOUNT_CURRENCY=BTC if the account trades in BTC"
     " only"),
    ("max_daily_loss", EXIT, account(realized_pnl_today=D(-900), positions=(LONG,)), LIMITS, True,
     "not an entry"),
    # stop_loss_cooldown (entries on that symbol)
    ("stop_loss_cooldown", ENTRY, ACTIVE, LIMITS, True, "no recent stop-loss on BTC/USDT"),
    ("stop_loss_cooldown", ENTRY,
     account(last_stop_loss_at={"BTC/USDT": NOW - timedelta(seconds=100)}), LIMITS, False,
     "BTC/USDT was stopped out 100 s ago and entries wait 900 s after a stop-loss "
     "(STOP_LOSS_COOLDOWN_SECONDS): 800 s left"),
    ("stop_loss_cooldown", ENTRY,
     account(last_stop_loss_at={"BTC/USDT": NOW - timedelta(seconds=900)}), LIMITS, True,
     "stopped out 900 s ago, over 900 s"),
    ("stop_loss_cooldown", ENTRY,
     account(last_stop_loss_at={"ETH/USDT": NOW - timedelta(seconds=10)}), LIMITS, True,
     "no recent stop-loss on BTC/USDT"),
    ("stop_loss_cooldown", EXIT,
     account(positions=(LONG,), last_stop_loss_at={"BTC/USDT": NOW}), LIMITS, True,
     "not an entry"),
    # orders_per_minute
    ("orders_per_minute", ENTRY, account(orders_last_minute=29), LIMITS, True,
     "29 orders in the last minute, under 30"),
    ("orders_per_minute", ENTRY, account(orders_last_minute=30), LIMITS, False,
     "30 orders in the last minute reach the limit of 30 (MAX_ORDERS_PER_MINUTE)"),
    # price_band
    ("price_band", entry(alert_price=D(66_300)), ACTIVE, LIMITS, True,
     "alert price 66,300 is 2.00% from the market mid 65,000 on paper, within the 2% band"),
    ("price_band", entry(alert_price=D(63_600)), ACTIVE, LIMITS, False,
     "alert price 63,600 is 2.15% from the market mid 65,000 on paper, outside the 2% band "
     "(PRICE_BAND_PERCENT)"),
    ("price_band", entry(alert_price=None), ACTIVE, LIMITS, True, "the alert quoted no price"),
    ("price_band", entry(market_price=None), ACTIVE, LIMITS, False,
     "no market price for BTC/USDT on paper right now"),
    ("price_band", entry(alert_price=None, market_price=None), ACTIVE, LIMITS, False,
     "no market price"),
    # venue_minimums
    ("venue_minimums", ENTRY, ACTIVE, LIMITS, True,
     "BTC/USDT on paper: amount 0.01 BTC and cost 650.00 USDT meet the minimums"),
    ("venue_minimums", entry(market=replace(SPOT, active=False)), ACTIVE, LIMITS, False,
     "BTC/USDT on paper: the market is not active"),
    ("venue_minimums", entry(market=replace(SPOT, min_amount=D("0.02"))), ACTIVE, LIMITS, False,
     "amount 0.01 BTC is below the minimum 0.02"),
    ("venue_minimums", entry(amount=D("0.0001"), price=D(40_000)), ACTIVE, LIMITS, False,
     "cost 4.00 USDT is below the minimum 5"),
    ("venue_minimums", entry(amount=D("0.01005")), ACTIVE, LIMITS, False,
     "amount 0.01005 is not a multiple of the step 0.0001"),
    # free_balance
    ("free_balance", entry(free_quote=D("650.65")), ACTIVE, LIMITS, True,
     "buying needs 650.65 USDT with the taker fee and 650.65 USDT is free on paper"),
    ("free_balance", entry(free_quote=D("650.64")), ACTIVE, LIMITS, False,
     "buying needs 650.65 USDT with the taker fee and only 650.64 USDT is free on paper"),
    ("free_balance", entry(side=Side.SELL, free_base=D("0.005"), take_profits=(), stop_loss=None),
     ACTIVE, LIMITS, False,
     "selling 0.01 BTC needs that much free on paper and only 0.005 BTC is free"),
    ("free_balance", exit_(free_base=D(0)), HOLDING, LIMITS, True,
     "an exit sells the position's own coins"),
    ("free_balance", entry(market=SWAP, symbol=SWAP.symbol, leverage=D(5), free_quote=D(130)),
     ACTIVE, LIMITS, True, "the margin at 5x is 130.00 USDT and 130.00 USDT is free on paper"),
    ("free_balance", entry(market=SWAP, symbol=SWAP.symbol, free_quote=D(600)), ACTIVE, LIMITS,
     False, "the margin at 1x is 650.00 USDT and only 600.00 USDT is free on paper"),
    ("free_balance", exit_(market=SWAP, symbol=SWAP.symbol, free_quote=D(0)),
     account(positions=(replace(LONG, symbol=SWAP.symbol),)), LIMITS, True,
     "an exit frees margin"),
    # reduce_only (exits)
    ("reduce_only", ENTRY, ACTIVE, LIMITS, True, "not an exit"),
    ("reduce_only", EXIT, HOLDING, LIMITS, True,
     "an exit sell of 0.01 BTC in BTC/USDT on paper reduces the long position of 0.01"),
    ("reduce_only", exit_(side=Side.BUY), account(positions=(SHORT,)), LIMITS, True,
     "reduces the short position of 0.01"),
    ("reduce_only", exit_(amount=D("0.02")), HOLDING, LIMITS, False,
     "an exit sell of 0.02 BTC in BTC/USDT on paper is larger than the long position of 0.01"),
    ("reduce_only", EXIT, account(positions=(SHORT,)), LIMITS, False,
     "would add to the short position of 0.01 instead of reducing it"),
    ("reduce_only", EXIT, ACTIVE, LIMITS, False,
     "an exit sell of 0.01 BTC in BTC/USDT on paper has no position to reduce"),
    ("reduce_only", EXIT, account(positions=(replace(LONG, venue="binance"),)), LIMITS, False,
     "has no position to reduce"),
    # tp_sl_sanity (only when given)
    ("tp_sl_sanity", ENTRY, ACTIVE, LIMITS, True,
     "long at 65,000: the stop-loss is below and every take-profit above"),
    ("tp_sl_sanity", entry(take_profits=(), stop_loss=None), ACTIVE, LIMITS, True,
     "no take-profit or stop-loss given"),
    ("tp_sl_sanity", entry(stop_loss=D(65_000)), ACTIVE, LIMITS, False,
     "long at 65,000: stop-loss 65,000 is not below it"),
    ("tp_sl_sanity", entry(take_profits=(D(70_000), D(64_000))), ACTIVE, LIMITS, False,
     "long at 65,000: take-profit 64,000 is not above it"),
    ("tp_sl_sanity", entry(stop_loss=D(66_000), take_profits=(D(64_000),)), ACTIVE, LIMITS,
     False, "stop-loss 66,000 is not below it; take-profit 64,000 is not above it"),
    ("tp_sl_sanity", entry(side=Side.SELL, free_base=D(1), stop_loss=D(66_000),
                           take_profits=(D(60_000),)), ACTIVE, LIMITS, True,
     "short at 65,000: the stop-loss is above and every take-profit below"),
    # stop_loss_required (REQUIRE_STOP_LOSS: entries only, not a unit's legs)
    ("stop_loss_required", ENTRY, ACTIVE, STOP_REQUIRED, True,
     "the entry has a stop-loss at 63,000"),
    ("stop_loss_required", entry(stop_loss=None), ACTIVE, LIMITS, True,
     "the entry has no stop-loss and none is required"),
    ("stop_loss_required", entry(stop_loss=None), ACTIVE, STOP_REQUIRED, False,
     "an entry in BTC/USDT without a stop-loss is refused (REQUIRE_STOP_LOSS): give the alert a"
     " stop-loss or set DEFAULT_STOP_LOSS_PERCENT"),
    ("stop_loss_required", EXIT, HOLDING, STOP_REQUIRED, True, "an exit needs no stop-loss"),
    ("stop_loss_required", entry(stop_loss=None, holds_position=False), ACTIVE, STOP_REQUIRED,
     True, "a unit's leg is closed with its unit"),
    ("tp_sl_sanity", entry(side=Side.SELL, free_base=D(1)), ACTIVE, LIMITS, False,
     "short at 65,000: stop-loss 63,000 is not above it; take-profit 68,000 is not below it; "
     "take-profit 70,000 is not below it"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "request_", "snapshot", "limits", "passed", "detail"),
    CASES,
    ids=[f"{case[0]}-{'pass' if case[4] else 'fail'}-{i}" for i, case in enumerate(CASES)],
)
def test_each_check_passes_or_fails_with_its_reason(
    name: str,
    request_: RiskRequest,
    snapshot: AccountSnapshot,
    limits: RiskLimits,
    passed: bool,
    detail: str,
) -> None:
    result = result_of(name, request_, snapshot, limits)
    assert (result.passed, detail in result.detail) == (passed, True), result.detail
    decision = check(request_, snapshot, limits, NOW)
    if not passed:
        assert isinstance(decision, Denied)
        assert result.detail in decision.reasons


def test_the_table_has_a_pass_and_a_failure_for_every_check() -> None:
    seen = {(name, passed) for name, *_, passed, _ in CASES}
    assert seen == {(name, outcome) for name in ALL_CHECKS for outcome in (True, False)}


def test_every_failure_is_listed_not_only_the_first() -> None:
    decision = check(
        entry(amount=D("0.02"), alert_price=D(70_000), free_quote=D(100)),
        account(trading_state=TradingState.HALTED, orders_last_minute=31),
        RiskLimits(deny_symbols=frozenset({"BTC/USDT"})),
        NOW,
    )
    assert isinstance(decision, Denied)
    failed = [c.name for c in decision.checks if not c.passed]
    assert failed == [
        "trading_state", "symbol_list", "orders_per_minute", "max_order_notional",
        "price_band", "free_balance",
    ]  # fmt: skip
    assert len(decision.reasons) == 6
    assert [c.name for c in decision.checks] == ALL_CHECKS  # the passing ones are kept too


def test_an_exit_skips_the_entry_only_checks_however_far_over_the_limits() -> None:
    snapshot = account(
        positions=(replace(LONG, amount=D(100)), *others(20)),
        realized_pnl_today=D(-10_000),
        last_stop_loss_at={"BTC/USDT": NOW},
    )
    decision = check(exit_(amount=D(100)), snapshot, LIMITS, NOW)
    assert isinstance(decision, Approved)
    skipped = {c.name for c in decision.checks if c.detail == "not an entry"}
    assert skipped == {
        "max_order_notional", "max_total_exposure", "max_open_positions", "max_daily_loss",
        "stop_loss_cooldown",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("state", "entry_allowed", "exit_allowed"),
    [
        (TradingState.ACTIVE, True, True),
        (TradingState.REDUCING, False, True),
        (TradingState.HALTED, False, False),
    ],
)
def test_each_trading_state(state: TradingState, entry_allowed: bool, exit_allowed: bool) -> None:
    snapshot = account(trading_state=state, positions=(LONG,))
    assert isinstance(check(ENTRY, snapshot, LIMITS, NOW), Approved) is entry_allowed
    assert isinstance(check(EXIT, snapshot, LIMITS, NOW), Approved) is exit_allowed


def test_the_checks_before_sizing_are_the_first_ones_check_runs() -> None:
    snapshot = account(trading_state=TradingState.REDUCING, realized_pnl_today=D(-600))
    early = check_before_sizing("BTC/USDT", Side.BUY, False, snapshot, LIMITS, NOW)
    assert [c.name for c in early] == ALL_CHECKS[:5]
    assert [c.name for c in early if not c.passed] == ["trading_state", "max_daily_loss"]
    assert check(ENTRY, snapshot, LIMITS, NOW).checks[:5] == early


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"amount": D("NaN")}, "amount"),
        ({"price": D("Infinity")}, "price"),
        ({"amount": D(0)}, "amount"),
        ({"market_price": D("sNaN")}, "market price"),
        ({"take_profits": (D(70_000), D(-1))}, "take-profit"),
        ({"free_quote": D(-1)}, "free quote"),
        ({"leverage": D(0)}, "leverage"),
    ],
)
def test_numbers_that_cannot_be_checked_deny_the_order(
    changes: dict[str, Decimal], named: str
) -> None:
    decision = check(entry(**changes), ACTIVE, LIMITS, NOW)
    assert isinstance(decision, Denied)
    assert decision.reasons == (f"the order's {named} must be finite numbers above 0",)
    assert decision.checks[-1].name == "order_values"


def test_a_decision_round_trips_through_json_for_the_lineage() -> None:
    decision = check(entry(amount=D("0.02")), ACTIVE, LIMITS, NOW)
    encoded = msgspec.json.encode(decision)
    assert b'"type":"Denied"' in encoded
    assert msgspec.json.decode(encoded, type=Approved | Denied) == decision


def test_a_position_notional_is_at_the_mark_price() -> None:
    assert SHORT.notional == D(650)
