"""What a bracket tells the trader (`app.domain.notifications` events), made from its value."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from app.domain.brackets.bracket import Bracket, LegOrder
from app.domain.brackets.pnl import fees_paid
from app.domain.notifications import (
    BracketClosed,
    DailySummary,
    EntryExecuted,
    InDoubt,
    LegView,
    OpenPosition,
    Unprotected,
)
from app.domain.orders import Leg, OrderState

_ZERO = Decimal(0)
_GONE = (OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED)


def _where(bracket: Bracket) -> dict[str, Any]:
    return {"bracket_id": bracket.id, "venue": bracket.venue, "symbol": bracket.symbol,
            "account": bracket.account}  # fmt: skip


def executed(bracket: Bracket) -> EntryExecuted:
    """The entry as placed, with the protective legs resting or watched for it."""
    entries = [o for o in bracket.orders if o.leg is Leg.ENTRY]
    legs = tuple(
        LegView(o.leg.value, o.kind.value, o.amount, o.trigger_price or o.price, o.state.value)
        for o in bracket.orders
        if o.leg in (Leg.TAKE_PROFIT, Leg.STOP_LOSS) and o.state not in _GONE
    )
    watched = tuple(
        LegView(Leg.TAKE_PROFIT.value, "watched", share * bracket.position, price, "watched")
        for price, share in bracket.take_profits
        if not bracket.resting_legs and bracket.position > 0
    )
    filled = sum((o.filled for o in entries), _ZERO)
    return EntryExecuted(
        signal_id=bracket.id,
        venue=bracket.venue,
        symbol=bracket.symbol,
        side=bracket.side.value,
        ordered=sum((o.amount for o in entries), _ZERO),
        filled=filled,
        price=bracket.entry_price if filled else None,
        state=bracket.state.value,
        quote=bracket.market.quote,
        legs=legs + watched,
        account=bracket.account,
    )


def closed(bracket: Bracket) -> BracketClosed:
    """The bracket as settled: what took it out, at what price, its P&L and fees."""
    exits = [o for o in bracket.orders if o.leg is not Leg.ENTRY and o.filled > 0]
    out = sum((o.filled for o in exits), _ZERO)
    value = sum((o.filled * (o.average_price or _ZERO) for o in exits), _ZERO)
    return BracketClosed(
        **_where(bracket),
        side=bracket.side.value,
        amount=bracket.entry_filled,
        entry_price=bracket.entry_price,
        exit_price=value / out if out else None,
        realized_pnl=bracket.realized_pnl,
        fees=fees_paid(bracket),
        quote=bracket.market.quote,
        exits=tuple(dict.fromkeys(o.leg.value for o in exits)),
    )


def unprotected(bracket: Bracket, why: str, *, closing: bool) -> Unprotected:
    return Unprotected(
        **_where(bracket), side=bracket.side.value, position=bracket.position, why=why,
        closing=closing,
    )  # fmt: skip


def in_doubt(bracket: Bracket, order: LegOrder) -> InDoubt:
    return InDoubt(**_where(bracket), leg=order.leg.value, client_order_id=order.client_order_id)


def summary(
    start: datetime,
    end: datetime,
    signals: dict[str, int],
    closed_brackets: list[Bracket],
    open_brackets: list[Bracket],
) -> DailySummary:
    """The summary of [start, end): `signals` received by status, the brackets closed (their
    P&L and fees by quote currency), and the positions open now."""
    pnl: dict[str, Decimal] = {}
    fees: dict[str, Decimal] = {}
    for bracket in closed_brackets:
        quote = bracket.market.quote
        pnl[quote] = pnl.get(quote, _ZERO) + bracket.realized_pnl
        fees[quote] = fees.get(quote, _ZERO) + fees_paid(bracket)
    held = tuple(
        OpenPosition(b.venue, b.symbol, b.side.value, b.position, b.entry_price)
        for b in open_brackets
        if b.position > 0
    )
    return DailySummary(
        start=start,
        end=end,
        signals=signals,
        closed=len(closed_brackets),
        pnl=pnl,
        fees=fees,
        open=held,
    )
