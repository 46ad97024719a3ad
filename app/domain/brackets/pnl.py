"""What a bracket made: realized P&L as its exits fill and when it settles, unrealized P&L at a
mark price."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec

from app.domain.brackets.bracket import FINAL, Bracket, BracketState
from app.domain.orders import Leg, Side

_ZERO = Decimal(0)


def settled(bracket: Bracket, state: BracketState, at: datetime) -> Bracket:
    """The bracket closed (or failed) at `at` with its realized P&L in the quote asset."""
    return msgspec.structs.replace(
        bracket, state=state, closed_at=at, realized_pnl=realized_pnl(bracket)
    )


def realized_so_far(bracket: Bracket) -> Decimal:
    """What the bracket has realized until now, in its quote asset: what every exit filled so
    far (a partial take-profit too) made against the entry, fees deducted; as settled once the
    bracket is closed or failed."""
    return bracket.realized_pnl if bracket.state in FINAL else realized_pnl(bracket)


def realized_pnl(bracket: Bracket) -> Decimal:
    """Quote P&L of what went out at its prices against the entry's average, fees paid in the
    quote asset (or the base asset, valued at the order's price) deducted."""
    entry = bracket.entry_price
    if entry is None:
        return -fees_paid(bracket)
    sign = 1 if bracket.side is Side.BUY else -1
    exits = [o for o in bracket.orders if o.leg is not Leg.ENTRY]
    gross = sum(
        (
            (o.average_price or entry) * o.filled * (1 if o.side is not bracket.side else -1)
            for o in exits
        ),
        _ZERO,
    )
    # what reconciliation took off (`adjusted`, negative) left the position at `adjusted_value`
    gross += bracket.adjusted_value
    return sign * (gross - entry * (bracket.exited - bracket.adjusted)) - fees_paid(bracket)


def fees_paid(bracket: Bracket) -> Decimal:
    """What the bracket paid in fees, in its quote asset (a fee taken in the base asset valued at
    its order's price)."""
    quote, base = bracket.market.quote, bracket.market.base
    total = _ZERO
    for o in bracket.orders:
        if o.fee_currency in (None, quote):
            total += o.fee
        elif o.fee_currency == base and o.leg is not Leg.ENTRY:
            total += o.fee * (o.average_price or _ZERO)
    return total


def unrealized_pnl(bracket: Bracket, mark: Decimal) -> Decimal:
    entry = bracket.entry_price
    if entry is None:
        return _ZERO
    sign = 1 if bracket.side is Side.BUY else -1
    return sign * (mark - entry) * bracket.position
