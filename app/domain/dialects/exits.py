"""Take-profits and stop-losses: absolute, percent, or a distance from the entry.

Percents and distances stay what they are: execution measures them from the entry's fill, so an
alert needs no price for them. Take-profits without ``share`` split what the others leave equally.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import msgspec

from app.domain.dialects.fields import Fields
from app.domain.dialects.results import invalid
from app.domain.dialects.values import (
    ONE,
    PERCENT,
    POSITIVE,
    SHARE,
    TP_PERCENT,
    canonical,
    read_number,
)
from app.domain.signals import StopKind, StopLoss, TakeProfit

_MAX_TARGETS = 10
_EVEN_SHARE_STEP = Decimal("0.000001")

Target = tuple[TakeProfit, Decimal | None]  # the target (its share unset), its share if given


def distance(entry: Decimal | None, value: Decimal, sign: int | None, field: str) -> Decimal:
    """A distance from the entry (read positive), which execution measures from the fill.

    Args:
        entry: the alert's price, when it has one: a distance that would put the exit at or below
            zero from it is refused now rather than at execution.
        value: the distance, in price units.
        sign: which way from the entry the exit lies (+1 above, -1 below); None for an alert
            that opens nothing (a close), where a distance means nothing.
        field: the field's path, for the error.
    """
    if sign is None:
        raise invalid(field, "is a distance from an entry, so send it with a buy or sell")
    if entry is not None and entry + sign * value <= 0:
        raise invalid(field, "puts the price at or below zero; send a smaller distance")
    return value


def take_profits(targets: list[Target], field: str) -> tuple[TakeProfit, ...]:
    if len(targets) > _MAX_TARGETS:
        raise invalid(field, f"may hold at most {_MAX_TARGETS} targets")
    if len(targets) == 1 and targets[0][1] is None:  # the common case
        return (targets[0][0],)
    shares = [share for _, share in targets]
    without = [index for index, share in enumerate(shares) if share is None]
    rest = ONE - sum((share for share in shares if share is not None), Decimal(0))
    if rest < 0 or (without and rest == 0):
        raise invalid(field, "shares must add up to at most 1, leaving some for targets without")
    if without:
        even = (rest / len(without)).quantize(_EVEN_SHARE_STEP, ROUND_DOWN)
        for index in without[:-1]:
            shares[index] = canonical(even)
        shares[without[-1]] = canonical(rest - sum([even] * (len(without) - 1), Decimal(0)))
    return tuple(
        msgspec.structs.replace(target, share=share or ONE)
        for (target, _), share in zip(targets, shares, strict=True)
    )


def read_take_profits(value: object, field: str) -> tuple[TakeProfit, ...]:
    """A price, ``{"price"|"percent"|"distance", "share"}``, or a list of those."""
    items = value if isinstance(value, list) else [value]
    if len(items) > _MAX_TARGETS:
        raise invalid(field, f"may hold at most {_MAX_TARGETS} targets")
    targets: list[Target] = []
    for index, item in enumerate(items):
        where = f"{field}[{index}]" if isinstance(value, list) else field
        if not isinstance(item, dict):
            targets.append((TakeProfit(price=read_number(item, where)), None))
            continue
        target = Fields(item, f"{where}.")
        price, percent = target.number("price"), target.number("percent", within=TP_PERCENT)
        away = target.number("distance")
        if [price, percent, away].count(None) != 2:
            raise invalid(where, "needs exactly one of price, percent or distance")
        share = target.number("share", within=SHARE)
        targets.append((TakeProfit(price=price, percent=percent, distance=away), share))
    return take_profits(targets, field)


_STOP_KINDS = {
    "price": StopKind.PRICE,
    "percent": StopKind.PERCENT,
    "distance": StopKind.DISTANCE,
    "trailing_percent": StopKind.TRAILING,
}


def read_stop_loss(value: object, field: str) -> StopLoss:
    """A price, or one of ``{"price"}``, ``{"percent"}``, ``{"distance"}``,
    ``{"trailing_percent"}``."""
    if not isinstance(value, dict):
        return StopLoss(kind=StopKind.PRICE, value=read_number(value, field))
    given = [key for key in _STOP_KINDS if value.get(key) not in (None, "")]
    if len(given) != 1:
        raise invalid(field, "needs exactly one of price, percent, distance or trailing_percent")
    kind = _STOP_KINDS[given[0]]
    within = POSITIVE if kind in (StopKind.PRICE, StopKind.DISTANCE) else PERCENT
    return StopLoss(kind=kind, value=read_number(value[given[0]], f"{field}.{given[0]}", within))
