"""Reconciliation with the venue's truth, as pure rules: what signalgate's book says a venue holds
of one asset (spot) or one swap position, what the venue holds, the drift between the two, and how
a shortfall is taken off the brackets it belongs to.

The book of a key is its baseline (what the user holds outside signalgate, recorded at the first
reconciliation or set by `RECONCILE_BASELINES`) plus what signalgate's brackets hold: every open
bracket's position and the leftovers of settled ones (dust below the venue's step stays on the
venue when a bracket closes). Spot venues are compared per base asset (the coins' total, free and
locked), swap venues per symbol (the signed position in contracts). The quote asset is not
compared: every trade and fee moves it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from decimal import Decimal

import msgspec

from app.domain.brackets.bracket import FINAL, Bracket
from app.domain.market import Market, MarketKind
from app.domain.orders import UNSETTLED, Side

_ZERO = Decimal(0)


class DriftPolicy(enum.StrEnum):
    """What a drift does besides its incident (ERROR, lineage, metric)."""

    FLAG = "flag"  # nothing more
    REDUCE_ONLY = "reduce_only"  # no new entry on the symbol until the drift is gone
    HALT = "halt"  # trading halted, with the drift as the reason


def default_policy(mode: str) -> DriftPolicy:
    """`reduce_only` for a live venue, `flag` for paper and testnet ones."""
    return DriftPolicy.REDUCE_ONLY if mode == "live" else DriftPolicy.FLAG


class Kind(enum.StrEnum):
    BALANCE = "balance"  # spot: the base asset's total on the venue
    POSITION = "position"  # swap: the signed position, in contracts


def key_of(market: Market) -> tuple[str, Kind]:
    """What is compared for a market: its base asset on spot, the symbol itself on a swap."""
    if market.kind is MarketKind.SWAP:
        return market.symbol, Kind.POSITION
    return market.base, Kind.BALANCE


def signed(side: Side, amount: Decimal) -> Decimal:
    """A bracket's holding as the venue counts it: a long adds, a short (or a spot sell) takes."""
    return amount if side is Side.BUY else -amount


def tolerance(market: Market) -> Decimal:
    """Below one amount step a difference is rounding, not drift."""
    return market.amount_step


class Comparison(msgspec.Struct, frozen=True):
    """One key of one venue: the venue's amount against the book's."""

    venue: str
    symbol: str
    key: str  # the asset (spot) or the symbol (swap) compared
    kind: Kind
    held: Decimal  # what the venue holds (signed for a position)
    baseline: Decimal  # held outside signalgate
    brackets: Decimal  # what signalgate's brackets hold, signed
    tolerance: Decimal = _ZERO

    @property
    def book(self) -> Decimal:
        return self.baseline + self.brackets

    @property
    def drift(self) -> Decimal:
        """What the book does not explain (positive: the venue holds more); 0 within the
        tolerance."""
        difference = self.held - self.book
        return difference if difference and abs(difference) >= self.tolerance else _ZERO


def unsettled(bracket: Bracket) -> bool:
    """An order of the bracket has an outcome nobody knows yet: its fills may explain a drift."""
    return any(o.state in UNSETTLED for o in bracket.orders)


def shortfall_takes(brackets: Sequence[Bracket], drift: Decimal) -> list[tuple[Bracket, Decimal]]:
    """What to take off which open brackets, newest first, when the venue holds less than they
    do: a drift against the brackets' direction (coins sold by hand under a long, a liquidated
    position). Each bracket gives at most its position; a drift in their direction (the venue
    holds more) takes nothing: signalgate never adopts what it did not buy."""
    left = abs(drift)
    takes: list[tuple[Bracket, Decimal]] = []
    for bracket in sorted(brackets, key=lambda b: b.id, reverse=True):
        if left <= 0 or bracket.state in FINAL or bracket.position <= 0:
            continue
        if (drift < 0) != (bracket.side is Side.BUY):
            continue
        take = min(bracket.position, left)
        takes.append((bracket, take))
        left -= take
    return takes


def take_off(bracket: Bracket, amount: Decimal, price: Decimal | None = None) -> Bracket:
    """The bracket holding `amount` less, as the venue does, gone at `price` (the venue's mid
    then; its entry price when none is known: no P&L is made up)."""
    at = price if price is not None else bracket.entry_price or Decimal(0)
    return msgspec.structs.replace(
        bracket,
        adjusted=bracket.adjusted - amount,
        adjusted_value=bracket.adjusted_value + amount * at,
    )


def show(value: Decimal) -> str:
    """A number as people write it: no trailing zeros, no exponent."""
    return f"{value.normalize():f}"


def drift_sentence(comparison: Comparison, taken: Decimal, left: Decimal) -> str:
    """One sentence for people: what the venue holds, what the book says, what was done."""
    c = comparison
    what = f"{c.key} position" if c.kind is Kind.POSITION else c.key
    head = (
        f"{c.venue} holds {show(c.held)} {what} where signalgate's book says {show(c.book)}"
        f" (baseline {show(c.baseline)} + brackets {show(c.brackets)})"
    )
    parts = [head]
    if taken:
        parts.append(f"took {show(taken)} off the open brackets, which now hold what the venue"
                     " holds")  # fmt: skip
    if left:
        setting = f"RECONCILE_BASELINES={c.venue}.{c.key}={show(c.baseline + left)}"
        if left > 0:
            parts.append(f"{show(left)} more than the book explains: trade it away on the venue,"
                         f" or set {setting} if it is yours")  # fmt: skip
        else:
            parts.append(f"{show(-left)} less than the book explains and no open bracket holds"
                         f" it: set {setting} if what went was yours")  # fmt: skip
    return "; ".join(parts)
