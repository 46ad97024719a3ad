"""Brackets in doubt: an order of theirs was sent and the venue never confirmed it, so it may
exist or not. Nothing above the adapter sends such an order again (a copy could enter twice); the
bracket waits, and no new entry goes to its account and symbol, until the order is found on the
venue or an operator settles it with `signalgate orders resolve`."""

from __future__ import annotations

from collections.abc import Iterable

from app.domain.brackets.bracket import FINAL, Bracket, LegOrder
from app.domain.orders import OrderState

CHECK = "in_doubt"  # the check name of an entry denied by a bracket in doubt


def doubtful(order: LegOrder) -> bool:
    """The order's outcome is unknown and the venue never gave it an id."""
    return order.state is OrderState.UNKNOWN and order.order_id is None


def in_doubt(brackets: Iterable[Bracket]) -> list[tuple[Bracket, LegOrder]]:
    """Every open bracket's doubtful orders."""
    return [
        (bracket, order)
        for bracket in brackets
        if bracket.state not in FINAL
        for order in bracket.orders
        if doubtful(order)
    ]


def doubt_detail(bracket: Bracket, order: LegOrder, venue: str) -> str:
    return (
        f"{order.leg} order {order.client_order_id} on {venue} got no answer and is not sent"
        f" again: no new {bracket.symbol} entry until the monitor finds it or"
        f" `signalgate orders resolve {order.client_order_id} --found` (or --gone) settles it"
    )


def entry_denial(brackets: Iterable[Bracket]) -> str | None:
    """The sentence denying a new entry while a bracket of the symbol is in doubt, or None."""
    doubts = in_doubt(brackets)
    if not doubts:
        return None
    bracket, order = doubts[0]
    return (
        f"bracket {bracket.id} is in doubt: its {order.leg} order {order.client_order_id} on"
        f" {bracket.venue} may or may not exist; settle it with `signalgate orders resolve"
        f" {order.client_order_id} --found` (or --gone) before a new {bracket.symbol} entry"
    )
