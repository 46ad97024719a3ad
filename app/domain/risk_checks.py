"""The risk checks that need the sized, routed order: limits, prices, the venue, balances, legs.

`app.domain.risk` runs these; each returns one CheckResult whose detail is one sentence with the
numbers.
"""

from __future__ import annotations

from decimal import Decimal

from app.domain.market import MarketKind
from app.domain.orders import Side
from app.domain.risk_values import (
    AccountSnapshot,
    CheckName,
    CheckResult,
    RiskLimits,
    RiskRequest,
    exits_pass,
)
from app.domain.sizing import number_text


def order_values(request: RiskRequest) -> str | None:
    """Why the order's numbers cannot be checked (not finite, or not above 0), or None."""
    positive: list[tuple[str, Decimal | None]] = [
        ("amount", request.amount),
        ("price", request.price),
        ("alert price", request.alert_price),
        ("market price", request.market_price),
        ("stop-loss", request.stop_loss),
        ("leverage", request.leverage),
        *(("take-profit", tp) for tp in request.take_profits),
    ]
    bad = [name for name, value in positive if value is not None and not _above_zero(value)]
    for name, balance in (("free quote", request.free_quote), ("free base", request.free_base)):
        if not balance.is_finite() or balance < 0:
            bad.append(name)
    if not bad:
        return None
    return f"the order's {', '.join(dict.fromkeys(bad))} must be finite numbers above 0"


def sized_checks(
    request: RiskRequest, snapshot: AccountSnapshot, limits: RiskLimits
) -> list[CheckResult]:
    """Every check that needs the order's size, price and venue, in a fixed order."""
    if request.reduces:
        entry_limits = exits_pass(
            CheckName.MAX_ORDER_NOTIONAL,
            CheckName.MAX_TOTAL_EXPOSURE,
            CheckName.MAX_OPEN_POSITIONS,
        )
    else:
        entry_limits = [
            _order_notional(request, limits),
            _total_exposure(request, snapshot, limits),
            _open_positions(request, snapshot, limits),
        ]
    return [
        *entry_limits,
        _price_band(request, limits),
        _venue_minimums(request),
        _free_balance(request),
        _reduce_only(request, snapshot),
        _tp_sl_sanity(request),
        _stop_loss_required(request, limits),
    ]


def _above_zero(value: Decimal) -> bool:
    return value.is_finite() and value > 0


def _notional(request: RiskRequest) -> Decimal:
    return request.amount * request.price


def _within_limit(
    name: CheckName, text: str, value: Decimal, limit: Decimal, setting: str
) -> CheckResult:
    shown = number_text(limit)
    if value > limit:
        return CheckResult(name, False, f"{text} is above the {shown} limit ({setting})")
    return CheckResult(name, True, f"{text} is within the {shown} limit")


def _order_notional(request: RiskRequest, limits: RiskLimits) -> CheckResult:
    notional = _notional(request)
    text = f"order notional {number_text(notional, 2)} {request.market.quote}"
    return _within_limit(
        CheckName.MAX_ORDER_NOTIONAL,
        text,
        notional,
        limits.max_order_notional,
        "MAX_ORDER_NOTIONAL",
    )


def _total_exposure(
    request: RiskRequest, snapshot: AccountSnapshot, limits: RiskLimits
) -> CheckResult:
    held = sum((p.notional for p in snapshot.positions), Decimal(0))
    waiting = sum((c.notional for c in snapshot.committed), Decimal(0))
    order = _notional(request)
    total = held + waiting + order
    entries = f" + entries not filled yet {number_text(waiting, 2)}" if snapshot.committed else ""
    text = (
        f"open positions {number_text(held, 2)}{entries} + this order {number_text(order, 2)}"
        f" = {number_text(total, 2)} {snapshot.currency} of exposure"
    )
    return _within_limit(
        CheckName.MAX_TOTAL_EXPOSURE,
        text,
        total,
        limits.max_total_exposure,
        "MAX_TOTAL_EXPOSURE",
    )


def _open_positions(
    request: RiskRequest, snapshot: AccountSnapshot, limits: RiskLimits
) -> CheckResult:
    """A position counts from its entry's approval: an entry resting on its venue, or approved
    and on its way, takes a slot as an open position does."""
    name = CheckName.MAX_OPEN_POSITIONS
    where = f"{request.symbol} on {request.venue}"
    held = {(p.venue, p.symbol) for p in snapshot.positions if p.amount != 0}
    slots = held | {(c.venue, c.symbol) for c in snapshot.committed}
    if (request.venue, request.symbol) in slots:
        return CheckResult(name, True, f"adds to the open position in {where}")
    limit, entering = limits.max_open_positions, len(slots - held)
    if len(slots) >= limit:
        also = f" ({entering} of them entries not filled yet)" if entering else ""
        return CheckResult(
            name,
            False,
            f"{len(slots)} positions are open{also} and the limit is {limit} "
            f"(MAX_OPEN_POSITIONS), so no new position in {where}",
        )
    return CheckResult(name, True, f"opens position {len(slots) + 1} of {limit} in {where}")


def _price_band(request: RiskRequest, limits: RiskLimits) -> CheckResult:
    name, mid, alert = CheckName.PRICE_BAND, request.market_price, request.alert_price
    if mid is None:
        return CheckResult(
            name, False, f"no market price for {request.symbol} on {request.venue} right now"
        )
    if alert is None:
        return CheckResult(name, True, "the alert quoted no price")
    deviation = abs(alert - mid) / mid * 100
    band = number_text(limits.price_band_percent)
    text = (
        f"alert price {number_text(alert)} is {deviation:.2f}% from the market mid "
        f"{number_text(mid)} on {request.venue}"
    )
    if deviation > limits.price_band_percent:
        return CheckResult(name, False, f"{text}, outside the {band}% band (PRICE_BAND_PERCENT)")
    return CheckResult(name, True, f"{text}, within the {band}% band")


def _venue_minimums(request: RiskRequest) -> CheckResult:
    market, amount = request.market, request.amount
    cost = _notional(request)
    problems = []
    if not market.active:
        problems.append("the market is not active")
    if amount < market.min_amount:
        problems.append(
            f"amount {number_text(amount)} {market.base} is below the minimum "
            f"{number_text(market.min_amount)}"
        )
    if cost < market.min_cost:
        problems.append(
            f"cost {number_text(cost, 2)} {market.quote} is below the minimum "
            f"{number_text(market.min_cost)}"
        )
    if market.amount_step > 0 and amount % market.amount_step:
        problems.append(
            f"amount {number_text(amount)} is not a multiple of the step "
            f"{number_text(market.amount_step)}"
        )
    where = f"{request.symbol} on {request.venue}"
    if problems:
        return CheckResult(CheckName.VENUE_MINIMUMS, False, f"{where}: {'; '.join(problems)}")
    return CheckResult(
        CheckName.VENUE_MINIMUMS,
        True,
        f"{where}: amount {number_text(amount)} {market.base} and cost "
        f"{number_text(cost, 2)} {market.quote} meet the minimums",
    )


def _free_balance(request: RiskRequest) -> CheckResult:
    name, market, venue = CheckName.FREE_BALANCE, request.market, request.venue
    if market.kind is MarketKind.SPOT and request.side is Side.SELL:
        if request.reduces:
            return CheckResult(name, True, "an exit sells the position's own coins")
        base, need, free = market.base, request.amount, request.free_base
        text = f"selling {number_text(need)} {base} needs that much free on {venue}"
        have = f"{number_text(free)} {base} is free"
    else:
        if market.kind is MarketKind.SWAP and request.reduces:
            return CheckResult(name, True, "an exit frees margin rather than using it")
        asset, free = market.settle or market.quote, request.free_quote
        if market.kind is MarketKind.SPOT:
            need = _notional(request) * (1 + market.taker_fee)
            text = f"buying needs {number_text(need, 2)} {asset} with the taker fee"
        else:
            need = _notional(request) / request.leverage
            text = (
                f"the margin at {number_text(request.leverage)}x is {number_text(need, 2)} {asset}"
            )
        have = f"{number_text(free, 2)} {asset} is free on {venue}"
    if need > free:
        return CheckResult(name, False, f"{text} and only {have}")
    return CheckResult(name, True, f"{text} and {have}")


def _reduce_only(request: RiskRequest, snapshot: AccountSnapshot) -> CheckResult:
    name = CheckName.REDUCE_ONLY
    if not request.reduces:
        return CheckResult(name, True, "not an exit")
    held = sum(
        (
            p.amount
            for p in snapshot.positions
            if p.venue == request.venue and p.symbol == request.symbol
        ),
        Decimal(0),
    )
    amount, base = number_text(request.amount), request.market.base
    order = (
        f"an exit {request.side.value} of {amount} {base} in {request.symbol} on {request.venue}"
    )
    facing = held if request.side is Side.SELL else -held  # the size this exit may take off
    if held == 0:
        return CheckResult(name, False, f"{order} has no position to reduce")
    kind = "long" if held > 0 else "short"
    position = f"the {kind} position of {number_text(abs(held))}"
    if facing < 0:
        return CheckResult(name, False, f"{order} would add to {position} instead of reducing it")
    if request.amount > facing:
        return CheckResult(name, False, f"{order} is larger than {position}")
    return CheckResult(name, True, f"{order} reduces {position}")


def _tp_sl_sanity(request: RiskRequest) -> CheckResult:
    name, price, stop = CheckName.TP_SL_SANITY, request.price, request.stop_loss
    if not request.take_profits and stop is None:
        return CheckResult(name, True, "no take-profit or stop-loss given")
    long = request.side is Side.BUY
    stop_side, target_side = ("below", "above") if long else ("above", "below")
    problems = []
    if stop is not None and (stop >= price if long else stop <= price):
        problems.append(f"stop-loss {number_text(stop)} is not {stop_side} it")
    problems += [
        f"take-profit {number_text(tp)} is not {target_side} it"
        for tp in request.take_profits
        if (tp <= price if long else tp >= price)
    ]
    entry = f"{'long' if long else 'short'} at {number_text(price)}"
    if problems:
        return CheckResult(name, False, f"{entry}: {'; '.join(problems)}")
    return CheckResult(
        name, True, f"{entry}: the stop-loss is {stop_side} and every take-profit {target_side}"
    )


def _stop_loss_required(request: RiskRequest, limits: RiskLimits) -> CheckResult:
    name = CheckName.STOP_LOSS_REQUIRED
    if request.reduces:
        return CheckResult(name, True, "an exit needs no stop-loss")
    if not request.holds_position:
        return CheckResult(name, True, "a unit's leg is closed with its unit and holds nothing")
    if request.stop_loss is not None:
        stop = number_text(request.stop_loss)
        return CheckResult(name, True, f"the entry has a stop-loss at {stop}")
    if not limits.require_stop_loss:
        return CheckResult(name, True, "the entry has no stop-loss and none is required")
    return CheckResult(
        name,
        False,
        f"an entry in {request.symbol} without a stop-loss is refused (REQUIRE_STOP_LOSS): give "
        "the alert a stop-loss or set DEFAULT_STOP_LOSS_PERCENT",
    )
