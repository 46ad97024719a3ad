"""Take-profits and stop-losses: absolute, percent, or a distance from the entry.

Take-profits without ``share`` split what the others leave equally.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

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

Target = tuple[Decimal | None, Decimal | None, Decimal | None]  # price, percent, share


def offset(entry: Decimal | None, distance: Decimal, sign: int | None, field: str) -> Decimal:
    """An absolute price ``distance`` away from the entry, beyond it by ``sign``."""
    if entry is None or sign is None:
        raise invalid(field, "is a distance from the entry, so send a buy or sell with its price")
    price = entry + sign * distance
    if price <= 0:
        raise invalid(field, "puts the price at or below zero; send a smaller distance")
    return canonical(price)


def take_profits(targets: list[Target], field: str) -> tuple[TakeProfit, ...]:
    if len(targets) > _MAX_TARGETS:
        raise invalid(field, f"may hold at most {_MAX_TARGETS} targets")
    if len(targets) == 1 and targets[0][2] is None:  # the common case
        return (TakeProfit(price=targets[0][0], percent=targets[0][1]),)
    shares = [share for _, _, share in targets]
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
        TakeProfit(price=price, percent=percent, share=share or ONE)
        for (price, percent, _), share in zip(targets, shares, strict=True)
    )


def read_take_profits(value: object, field: str) -> tuple[TakeProfit, ...]:
    """A price, ``{"price"|"percent", "share"}``, or a list of those."""
    items = value if isinstance(value, list) else [value]
    if len(items) > _MAX_TARGETS:
        raise invalid(field, f"may hold at most {_MAX_TARGETS} targets")
    targets: list[Target] = []
    for index, item in enumerate(items):
        where = f"{field}[{index}]" if isinstance(value, list) else field
        if not isinstance(item, dict):
            targets.append((read_number(item, where), None, None))
            continue
        target = Fields(item, f"{where}.")
        price, percent = target.number("price"), target.number("percent", within=TP_PERCENT)
        if (price is None) == (percent is None):
            raise invalid(where, "needs exactly one of price or percent")
        targets.append((price, percent, target.number("share", within=SHARE)))
    return take_profits(targets, field)


_STOP_KINDS = {
    "price": StopKind.PRICE,
    "percent": StopKind.PERCENT,
    "trailing_percent": StopKind.TRAILING,
}


def read_stop_loss(value: object, field: str) -> StopLoss:
    """A price, or one of ``{"price"}``, ``{"percent"}``, ``{"trailing_percent"}``."""
    if not isinstance(value, dict):
        return StopLoss(kind=StopKind.PRICE, value=read_number(value, field))
    given = [key for key in _STOP_KINDS if value.get(key) not in (None, "")]
    if len(given) != 1:
        raise invalid(field, "needs exactly one of price, percent or trailing_percent")
    kind = _STOP_KINDS[given[0]]
    within = POSITIVE if kind is StopKind.PRICE else PERCENT
    return StopLoss(kind=kind, value=read_number(value[given[0]], f"{field}.{given[0]}", within))
