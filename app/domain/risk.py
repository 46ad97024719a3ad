"""The pre-trade risk gate: every check runs and states its reason, with the numbers.

Pure code: the account snapshot, the limits and the time are passed in. A denial is ours (DENIED);
a venue's refusal is a rejection and is not decided here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec

from app.domain.orders import Side
from app.domain.risk_checks import order_values, sized_checks
from app.domain.risk_values import (
    AccountSnapshot,
    CheckName,
    CheckResult,
    RiskLimits,
    RiskRequest,
    TradingState,
    exits_pass,
)
from app.domain.sizing import number_text

_ZERO = Decimal(0)


class Approved(msgspec.Struct, frozen=True, tag=True):
    checks: tuple[CheckResult, ...]


class Denied(msgspec.Struct, frozen=True, tag=True):
    checks: tuple[CheckResult, ...]

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(c.detail for c in self.checks if not c.passed)


Decision = Approved | Denied


def check_before_sizing(
    symbol: str,
    side: Side,
    reduces: bool,
    snapshot: AccountSnapshot,
    limits: RiskLimits,
    now: datetime,
) -> tuple[CheckResult, ...]:
    """The checks that need no size or venue, so that execution can deny early.

    Args:
        symbol: the unified symbol of the signal.
        side: the side of the order to place.
        reduces: True for an exit (a close, or the closing half of a reverse).
        snapshot: the account now.
        limits: the account's limits.
        now: the time of the check (aware, like the snapshot's times).

    Returns:
        The results of trading_state, symbol_list, max_daily_loss, stop_loss_cooldown and
        orders_per_minute, passed or not, in that order.
    """
    del side  # the same for both sides today; kept so callers need not change when it matters
    if reduces:
        entry_limits = exits_pass(CheckName.MAX_DAILY_LOSS, CheckName.STOP_LOSS_COOLDOWN)
    else:
        entry_limits = [_daily_loss(snapshot, limits), _cooldown(symbol, snapshot, limits, now)]
    return (
        _trading_state(reduces, snapshot),
        _symbol_list(symbol, limits),
        *entry_limits,
        _orders_per_minute(snapshot, limits),
    )


def check(
    request: RiskRequest, snapshot: AccountSnapshot, limits: RiskLimits, now: datetime
) -> Approved | Denied:
    """Run every check on the order (none stops the others) and decide.

    Args:
        request: the sized, routed order.
        snapshot: the account now.
        limits: the account's limits.
        now: the time of the check.

    Returns:
        Approved when every check passed, else Denied; both carry every check's result.
    """
    checks = list(
        check_before_sizing(request.symbol, request.side, request.reduces, snapshot, limits, now)
    )
    problem = order_values(request)
    if problem:
        # Arithmetic on such values is meaningless (NaN comparisons even raise): stop here.
        checks.append(CheckResult(CheckName.ORDER_VALUES, False, problem))
    else:
        checks += sized_checks(request, snapshot, limits)
    result = tuple(checks)
    if all(c.passed for c in result):
        return Approved(result)
    return Denied(result)


def _trading_state(reduces: bool, snapshot: AccountSnapshot) -> CheckResult:
    name, state, account = CheckName.TRADING_STATE, snapshot.trading_state, snapshot.account
    # the account's own state (`signalgate accounts halt|reduce-only|resume`), or the global one
    how = f" (`signalgate accounts resume {account}`)" if snapshot.own_trading_state else ""
    if state is TradingState.HALTED:
        return CheckResult(
            name, False, f"trading is halted for account {account}{how}: nothing is placed"
        )
    if state is TradingState.REDUCING and not reduces:
        return CheckResult(
            name,
            False,
            f"account {account} is reducing only{how}: entries are refused, exits allowed",
        )
    return CheckResult(name, True, f"account {snapshot.account} is {state.value}")


def _symbol_list(symbol: str, limits: RiskLimits) -> CheckResult:
    name = CheckName.SYMBOL_LIST
    if symbol in limits.deny_symbols:
        return CheckResult(name, False, f"{symbol} is in the deny list (SYMBOLS_DENY)")
    if limits.allow_symbols and symbol not in limits.allow_symbols:
        allowed = ", ".join(sorted(limits.allow_symbols))
        return CheckResult(
            name, False, f"{symbol} is not in the allow list ({allowed}) (SYMBOLS_ALLOW)"
        )
    return CheckResult(name, True, f"{symbol} may be traded")


def _daily_loss(snapshot: AccountSnapshot, limits: RiskLimits) -> CheckResult:
    name, currency, limit = CheckName.MAX_DAILY_LOSS, snapshot.currency, limits.max_daily_loss
    if snapshot.unconverted:
        others = snapshot.unconverted
        pairs = " or ".join(f"{other}/{currency}" for other in others)
        return CheckResult(
            name,
            False,
            f"no venue quotes {pairs}, so P&L in {' and '.join(others)} cannot be counted toward"
            f" MAX_DAILY_LOSS in {currency}: add a venue that lists {pairs}, or set"
            f" ACCOUNT_CURRENCY={others[0]} if the account trades in {others[0]} only",
        )
    realized, unrealized = snapshot.realized_pnl_today, snapshot.unrealized_pnl
    if limits.daily_loss_counts_unrealized:
        loss = -(realized + unrealized)
        text = (
            f"today's loss {number_text(max(loss, _ZERO), 2)} {currency} (realized"
            f" {number_text(realized, 2)}, open positions {number_text(unrealized, 2)}"
            + (f"; {', '.join(snapshot.unpriced)} unpriced" if snapshot.unpriced else "")
            + ")"
        )
    else:
        loss = -realized
        text = f"realized loss today {number_text(max(loss, _ZERO), 2)} {currency}"
    if loss >= limit:
        return CheckResult(
            name, False, f"{text} is at or over the {number_text(limit)} limit (MAX_DAILY_LOSS)"
        )
    return CheckResult(name, True, f"{text} is under the {number_text(limit)} limit")


def _cooldown(
    symbol: str, snapshot: AccountSnapshot, limits: RiskLimits, now: datetime
) -> CheckResult:
    name = CheckName.STOP_LOSS_COOLDOWN
    stopped_at = snapshot.last_stop_loss_at.get(symbol)
    wait = limits.stop_loss_cooldown_seconds
    if stopped_at is None:
        return CheckResult(name, True, f"no recent stop-loss on {symbol}")
    ago = (now - stopped_at).total_seconds()
    if ago < wait:
        return CheckResult(
            name,
            False,
            f"{symbol} was stopped out {ago:.0f} s ago and entries wait {wait} s after a "
            f"stop-loss (STOP_LOSS_COOLDOWN_SECONDS): {wait - ago:.0f} s left",
        )
    return CheckResult(name, True, f"{symbol} was stopped out {ago:.0f} s ago, over {wait} s")


def _orders_per_minute(snapshot: AccountSnapshot, limits: RiskLimits) -> CheckResult:
    name, count, limit = (
        CheckName.ORDERS_PER_MINUTE,
        snapshot.orders_last_minute,
        limits.max_orders_per_minute,
    )
    if count >= limit:
        return CheckResult(
            name,
            False,
            f"{count} orders in the last minute reach the limit of {limit} (MAX_ORDERS_PER_MINUTE)",
        )
    return CheckResult(name, True, f"{count} orders in the last minute, under {limit}")
