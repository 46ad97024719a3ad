"""Numbers in settings. Each parser strips the text and refuses anything else with `hint`, the
sentence that says what to use instead (the setting's error names the setting and the value)."""

from __future__ import annotations

from decimal import Decimal


def whole(raw: str, hint: str, low: int = 0, high: int | None = None) -> int:
    """A whole number from `low` to `high` (None: no upper limit)."""
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(hint) from None
    if value < low or (high is not None and value > high):
        raise ValueError(hint)
    return value


def decimal(
    raw: str,
    hint: str,
    low: Decimal | None = None,
    high: Decimal | None = None,
    *,
    above: bool = False,
    below: bool = False,
) -> Decimal:
    """A finite decimal from `low` to `high` (None: no limit on that side); `above`: `low`
    itself refused too, `below`: `high` itself."""
    try:
        value = Decimal(raw.strip())
    except ArithmeticError:  # decimal.InvalidOperation
        raise ValueError(hint) from None
    if not value.is_finite():
        raise ValueError(hint)
    if low is not None and (value < low or (above and value == low)):
        raise ValueError(hint)
    if high is not None and (value > high or (below and value == high)):
        raise ValueError(hint)
    return value


def real(raw: str, hint: str, low: float, high: float, *, unread: str | None = None) -> float:
    """A number from `low` to `high`; `unread`: the hint for text that is no number at all."""
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError(unread or hint) from None
    if not low <= value <= high:  # NaN is in no range
        raise ValueError(hint)
    return value
