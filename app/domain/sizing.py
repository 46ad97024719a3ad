"""Position sizing: from a fixed amount, a quote notional, a percent of equity or a percent risked.

Pure code. A size the user gave (BASE, QUOTE) is kept as given, so the risk gate can say why it is
too large; a size computed from equity is capped to the maximum order notional.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

import msgspec

from app.domain.market import Market
from app.domain.signals import QtyMode


class SizingPolicy(msgspec.Struct, frozen=True):
    default_mode: QtyMode = QtyMode.QUOTE
    default_quantity: Decimal = Decimal(100)
    max_order_notional: Decimal = Decimal(1000)  # caps computed sizes only


class SizingRequest(msgspec.Struct, frozen=True):
    mode: QtyMode
    quantity: Decimal | None  # None: the policy's default mode AND quantity
    entry_price: Decimal
    stop_price: Decimal | None
    equity: Decimal  # in the market's quote currency


class Sized(msgspec.Struct, frozen=True, tag=True):
    amount: Decimal  # base units, a multiple of the market's step
    notional: Decimal  # amount x entry price
    explanation: str


class Unsizable(msgspec.Struct, frozen=True, tag=True):
    reason: str


Sizing = Sized | Unsizable
_PERCENT_MODES = frozenset({QtyMode.PERCENT_EQUITY, QtyMode.RISK_PERCENT})
_MAX_STEPS = Decimal("1e20")  # beyond it Decimal's 28 digits no longer hold amount and step


def number_text(value: Decimal, places: int | None = None) -> str:
    """`1,250.00` with `places`, else the number as it is without trailing zeros (`0.0153`)."""
    if places is not None:  # rounded here: the thread's context is ccxt's to change (HALF_UP)
        return f"{value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN):,f}"
    return f"{value.normalize():,f}"


def size(request: SizingRequest, market: Market, policy: SizingPolicy) -> Sized | Unsizable:
    """The amount to order, truncated to the market's step, with a sentence saying how.

    Args:
        request: the signal's quantity and mode, the entry and stop prices, the equity.
        market: the chosen venue's market (step and minimums).
        policy: the defaults and the cap on computed sizes.

    Returns:
        Sized, or Unsizable with the reason (bad numbers, no stop for a risk size, below the
        venue's minimums after truncation).
    """
    mode, quantity = request.mode, request.quantity
    if quantity is None:
        mode, quantity = policy.default_mode, policy.default_quantity
    price, quote = request.entry_price, market.quote
    if not _above_zero(price):
        return Unsizable(f"the entry price must be a finite number above 0, not {price}")
    if not _above_zero(quantity):
        return Unsizable(
            f"the {mode.value} quantity must be a finite number above 0, not {quantity}"
        )
    if mode in _PERCENT_MODES:
        if quantity > 100:
            return Unsizable(f"a {mode.value} quantity is a percent from 0 to 100, not {quantity}")
        if not _above_zero(request.equity):
            return Unsizable(
                f"a {mode.value} size needs the account equity, and it is {request.equity} {quote}"
            )
    equity_text = f"{number_text(quantity)}% of equity {number_text(request.equity)} {quote}"
    cap = policy.max_order_notional
    capped = f", capped to the {number_text(cap)} {quote} maximum order notional"
    match mode:
        case QtyMode.BASE:
            return _truncated(quantity, None, price, market)
        case QtyMode.QUOTE:
            raw = quantity / price
            how = f"{number_text(quantity)} {quote} at {number_text(price)}"
        case QtyMode.PERCENT_EQUITY:
            budget = request.equity * quantity / 100
            how = f"{equity_text} = {number_text(budget)} {quote}"
            if budget > cap:
                budget, how = cap, how + capped + ","
            raw = budget / price
            how += f" at {number_text(price)}"
        case QtyMode.RISK_PERCENT:
            stop = request.stop_price
            if stop is None or not _above_zero(stop) or stop == price:
                return Unsizable(
                    f"a risk_percent size needs a stop-loss price away from the entry "
                    f"{number_text(price)}; add a stop-loss to the alert or use another mode"
                )
            risk, distance = request.equity * quantity / 100, abs(price - stop)
            raw = risk / distance
            how = (
                f"{equity_text} = {number_text(risk)} {quote} at risk over the distance "
                f"{number_text(distance)} from entry {number_text(price)} "
                f"to stop {number_text(stop)}"
            )
            if raw * price > cap:
                uncapped = f", {number_text(raw * price, 2)} {quote} of notional"
                raw, how = cap / price, how + uncapped + capped
    return _truncated(raw, how, price, market)


def _above_zero(value: Decimal) -> bool:
    return value.is_finite() and value > 0


def _truncated(raw: Decimal, how: str | None, price: Decimal, market: Market) -> Sized | Unsizable:
    """Truncate to the step and check the minimums; `how` is None for an amount given as is."""
    step, base, quote = market.amount_step, market.base, market.quote
    if step > 0 and raw / step >= _MAX_STEPS:
        return Unsizable(f"{number_text(raw)} {base} is too large an amount to order")
    amount = (raw / step).to_integral_value(ROUND_DOWN) * step if step > 0 else raw
    notional = amount * price
    if how is None:
        # Shown as the user gave it, and at what it comes to.
        shown = f"{number_text(raw)} {base} as given"
        at = f", {number_text(notional, 2)} {quote} at {number_text(price)}"
    else:
        # One digit finer than the step shows what truncation took off without 28 digits of noise.
        finer = raw.quantize(step / 10, ROUND_DOWN) if step > 0 else raw
        shown, at = f"{how} -> {finer:,f} {base}", ""
    if amount == raw:
        result = f"{how} -> {number_text(amount)} {base}{at}" if how else f"{shown}{at}"
    else:
        result = f"{shown}, truncated to {number_text(amount)} (step {number_text(step)}){at}"
    if amount <= 0 or amount < market.min_amount:
        return Unsizable(
            f"{result}, below {market.symbol}'s minimum amount of "
            f"{number_text(market.min_amount)} {base}"
        )
    if notional < market.min_cost:
        return Unsizable(
            f"{result}, an order of {number_text(notional, 2)} {quote}, below {market.symbol}'s "
            f"minimum of {number_text(market.min_cost)} {quote}"
        )
    return Sized(amount, notional, result)
