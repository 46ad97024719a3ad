"""Bracket target prices: take-profit and stop-loss prices from a signal and the entry price,
the amounts of the take-profit legs, and the trailing stop's moves. Pure code.

Percents and distances are measured from the entry price given: the reference price before the
entry is sent (to size and check it), then the entry's fill (`retarget`).

Rounding to the price step always favours the trader's request: a take-profit is rounded away
from the entry (never onto or across it) and a stop-loss away from the entry too (never tighter
than asked, so a stop is not hit by the rounding alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import msgspec

from app.domain.market import Market
from app.domain.orders import Side
from app.domain.paper.rules import truncate
from app.domain.signals import Signal, StopKind, StopLoss, TakeProfit

_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)


class Targets(msgspec.Struct, frozen=True):
    """The bracket's prices: take-profits with their shares, and the stop."""

    take_profits: tuple[tuple[Decimal, Decimal], ...]  # (price, share of the position)
    stop_loss: Decimal | None
    trailing_percent: Decimal | None = None


def _floor(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_FLOOR) * step


def _ceil(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(ROUND_CEILING) * step


def _positive(value: Decimal, what: str) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise ValueError(f"the {what} must be a positive number, not {value}")
    return value


def bracket_targets(
    signal: Signal,
    side: Side,
    entry_price: Decimal,
    market: Market,
    default_stop_percent: Decimal | None = None,
) -> Targets:
    """The take-profit and stop-loss prices of a position entered at `entry_price`.

    Args:
        signal: the signal whose take_profits and stop_loss apply.
        side: the entry's side: BUY opens a long, SELL a short.
        entry_price: the entry's average fill price.
        market: the venue's market (its price_step rounds every price).
        default_stop_percent: the stop-loss, in percent from the entry, of a signal that gives
            none (DEFAULT_STOP_LOSS_PERCENT); None leaves such a position without a stop.

    Returns:
        The targets, prices rounded to the step; shares summing to at most 1.

    Raises:
        ValueError: a target is on the wrong side of the entry, at or below zero, or the shares
            sum above 1.
    """
    entry = _positive(entry_price, "entry price")
    long = side is Side.BUY
    shares = _shares(signal.take_profits)
    take_profits = tuple(
        (_take_profit_price(tp, long, entry, market), share)
        for tp, share in zip(signal.take_profits, shares, strict=True)
    )
    given = signal.stop_loss
    if given is None and default_stop_percent is not None:
        given = StopLoss(StopKind.PERCENT, default_stop_percent)
    if given is None:
        return Targets(take_profits, None)
    stop = _stop_price(given, long, entry, market)
    trailing = given.value if given.kind is StopKind.TRAILING else None
    return Targets(take_profits, stop, trailing)


def _shares(take_profits: Sequence[TakeProfit]) -> tuple[Decimal, ...]:
    shares = [tp.share for tp in take_profits]
    for share in shares:
        if not share.is_finite() or not _ZERO < share <= _ONE:
            raise ValueError(f"a take-profit share must be above 0 and at most 1, not {share}")
    total = sum(shares, _ZERO)
    if total <= _ONE:
        return tuple(shares)
    if len(set(shares)) == 1:  # no shares given (each defaults to 1), or the same for each
        even = _ONE / len(shares)
        return (*[even] * (len(shares) - 1), _ONE - even * (len(shares) - 1))
    raise ValueError(f"the take-profit shares sum to {total}; make them sum to 1 or less")


def _take_profit_price(tp: TakeProfit, long: bool, entry: Decimal, market: Market) -> Decimal:
    given = [value for value in (tp.price, tp.percent, tp.distance) if value is not None]
    if len(given) > 1:
        raise ValueError(
            "a take-profit has more than one of a price, a percent and a distance; give one"
        )
    if tp.price is not None:
        raw = _positive(tp.price, "take-profit price")
    elif tp.percent is not None:
        percent = _positive(tp.percent, "take-profit percent")
        raw = entry * (_ONE + percent / _HUNDRED if long else _ONE - percent / _HUNDRED)
    elif tp.distance is not None:
        distance = _positive(tp.distance, "take-profit distance")
        raw = entry + distance if long else entry - distance
    else:
        raise ValueError(
            "a take-profit has neither a price, a percent nor a distance; give one of them"
        )
    price = _ceil(raw, market.price_step) if long else _floor(raw, market.price_step)
    if long and price <= entry:
        raise ValueError(f"the take-profit {raw} is not above the long entry at {entry}")
    if not long and (price >= entry or price <= 0):
        raise ValueError(
            f"the take-profit {raw} is not between 0 and the short entry at {entry} "
            f"at a price step of {market.price_step}"
        )
    return price


def _stop_price(stop: StopLoss, long: bool, entry: Decimal, market: Market) -> Decimal:
    if stop.kind is StopKind.PRICE:
        raw = _positive(stop.value, "stop-loss price")
    elif stop.kind is StopKind.DISTANCE:
        distance = _positive(stop.value, "stop-loss distance")
        raw = entry - distance if long else entry + distance
    else:
        percent = _positive(stop.value, f"{stop.kind} stop-loss percent")
        raw = entry * (_ONE - percent / _HUNDRED if long else _ONE + percent / _HUNDRED)
    price = _floor(raw, market.price_step) if long else _ceil(raw, market.price_step)
    if long and (price >= entry or price <= 0):
        raise ValueError(
            f"the stop-loss {raw} is not between 0 and the long entry at {entry} "
            f"at a price step of {market.price_step}"
        )
    if not long and price <= entry:
        raise ValueError(f"the stop-loss {raw} is not above the short entry at {entry}")
    return price


def split_amount(
    amount: Decimal,
    shares: Sequence[Decimal],
    market: Market,
    prices: Sequence[Decimal] | None = None,
) -> tuple[Decimal, ...]:
    """The amounts of the take-profit legs, one per share, in the same order.

    Each leg is `amount` x share / sum(shares) truncated to the amount step, the remainder going to
    the last leg. A leg below the market's min_amount (or below min_cost at its price, when
    `prices` are given) is merged into the previous leg (the first leg into the next one), and
    its own amount becomes 0: place no order for a leg of 0. The legs always sum to `amount`.

    To leave part of a position without a take-profit, pass only the part the targets close.

    Raises:
        ValueError: the amount is not a positive multiple of the step, a share is negative, the
            shares are empty or all 0, or prices do not match shares one to one.
    """
    step = market.amount_step
    if not amount.is_finite() or amount <= 0 or amount % step:
        raise ValueError(f"the amount to split must be a positive multiple of {step}, not {amount}")
    if not shares or any(not s.is_finite() or s < 0 for s in shares) or not sum(shares, _ZERO):
        raise ValueError(
            f"the shares to split by must be at least one, not negative, not all 0: {shares}"
        )
    if prices is not None and len(prices) != len(shares):
        raise ValueError(f"{len(prices)} prices were given for {len(shares)} shares; give one each")
    total = sum(shares, _ZERO)
    legs = [truncate(amount * share / total, step) for share in shares[:-1]]
    legs.append(amount - sum(legs, _ZERO))

    def too_small(index: int, leg: Decimal) -> bool:
        if leg < market.min_amount or not leg:
            return True
        return bool(
            prices is not None and market.min_cost and leg * prices[index] < market.min_cost
        )

    kept: list[int] = []  # indexes of the legs that keep an order
    for index, leg in enumerate(legs):
        if kept and too_small(index, leg):
            legs[kept[-1]] += leg
            legs[index] = _ZERO
        else:
            kept.append(index)
    first = kept[0]
    if len(kept) > 1 and too_small(first, legs[first]):
        legs[kept[1]] += legs[first]
        legs[first] = _ZERO
    return tuple(legs)


class TrailingRules(msgspec.Struct, frozen=True):
    """How often and how far a trailing stop moves: each move replaces the resting stop on the
    venue (a cancel and a create), so it moves at most once per `min_interval_seconds`
    (TRAILING_MIN_INTERVAL_SECONDS) and by at least `min_step_percent` of the stop
    (TRAILING_MIN_STEP_PERCENT), and never by less than the price step."""

    min_interval_seconds: float = 5.0
    min_step_percent: Decimal = Decimal("0.1")


def trailing_stop(
    side: Side,
    stop: Decimal,
    best_price_since_entry: Decimal,
    percent: Decimal,
    market: Market,
    min_step_percent: Decimal = _ZERO,
) -> Decimal:
    """The trailing stop `percent` behind the best price since entry, never loosened.

    Args:
        side: the entry's side: BUY for a long (the stop trails below the highest price), SELL
            for a short (above the lowest price).
        stop: the stop as it stands.
        best_price_since_entry: the highest price since entry for a long, the lowest for a short.
        percent: the trailing distance.
        market: the venue's market; a moved stop is rounded away from the price to its step.
        min_step_percent: the smallest move, in percent of `stop` (never less than the step).

    Returns:
        The moved stop, or `stop` unchanged when moving it would loosen it or move it by less
        than the smallest move.
    """
    _positive(percent, "trailing percent")
    best = _positive(best_price_since_entry, "best price since entry")
    step = max(market.price_step, stop * min_step_percent / _HUNDRED)
    if side is Side.BUY:
        candidate = _floor(best * (_ONE - percent / _HUNDRED), market.price_step)
        return candidate if candidate - stop >= step else stop
    candidate = _ceil(best * (_ONE + percent / _HUNDRED), market.price_step)
    return candidate if stop - candidate >= step else stop
