"""Position drift: a TradingView strategy's alert says where the strategy stood before this order
(`prev_market_position`) and stands after it (`market_position`, `market_position_size`). When the
account's position in the symbol is not on the side the alert says it was, the account has
drifted from the strategy (a missed or refused alert, a manual trade): `POSITION_SYNC=flag`
executes as asked and records the drift; `align` sizes an entry so that the account ends where
the strategy is.

Pure code: positions are signed (long above 0, short below), in base units for the account and
in the alert's quantity units for the strategy; an account's multiplier converts one into the
other.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from app.domain.signals import StrategyPosition
from app.domain.sizing import number_text

_ZERO = Decimal(0)


class PositionSync(enum.StrEnum):
    FLAG = "flag"  # execute as asked; the drift on the lineage and in the metrics
    ALIGN = "align"  # an entry sized so that the account ends where the strategy is


def side_of(position: Decimal) -> str:
    """long, short or flat."""
    return "long" if position > 0 else "short" if position < 0 else "flat"


def drift(said: StrategyPosition | None, held: Decimal) -> str | None:
    """Why the account (holding `held`, signed base units) is not where the alert says the
    strategy was before this order, or None (no drift, or the alert does not say)."""
    if said is None or said.before is None or side_of(held) == said.before:
        return None
    holds = "flat" if not held else f"{side_of(held)} {number_text(abs(held))}"
    return f"the strategy was {said.before} before this order but the account is {holds}"


@dataclass(frozen=True, slots=True)
class Aligned:
    """An entry aligned to the strategy: `quantity` in the alert's units (0: nothing to place),
    `flatten`: close the account's opposite position first, and the sentence for the lineage."""

    quantity: Decimal
    flatten: bool
    detail: str


def aligned_entry(
    said: StrategyPosition, buying: bool, held: Decimal, multiplier: Decimal
) -> Aligned | str:
    """The entry (a buy when `buying`) that takes the account from `held` (signed, base units)
    to where the alert says the strategy is, its size scaled by the account's `multiplier`;
    or why it cannot be aligned (executed as asked instead).

    A target on the other side from the account's position flattens that first; an account
    already at or beyond the target (on the order's side) places nothing: a part of a position
    is not closed by an entry.
    """
    if said.after not in ("long", "short") or said.size is None:
        return "the alert gives no market_position and market_position_size to align to"
    sign = 1 if said.after == "long" else -1
    if (sign > 0) != buying:
        return f"a {'buy' if buying else 'sell'} that leaves the strategy {said.after}"
    target = said.size * sign
    own = held / multiplier  # the account's position in the alert's units
    flatten = own * sign < 0
    start = _ZERO if flatten else own
    quantity = max((target - start) * sign, _ZERO)
    to = f"{said.after} {number_text(said.size)} (the alert's units)"
    if not quantity:
        detail = f"aligned: the account already holds {to} or more; nothing placed"
    else:
        first = "after closing its other side, " if flatten else ""
        detail = f"aligned: {first}{number_text(quantity)} to reach {to}"
    return Aligned(quantity, flatten, detail)
