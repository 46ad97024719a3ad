"""How a paper order fills and closes: as a taker (the rest expires), as a resting maker, or
fired by its trigger. Every change of an order's state goes through the state machine here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from app.domain.market import Level, Market
from app.domain.orders import OrderState, Side, transition
from app.domain.paper.ledger import PaperLedger
from app.domain.paper.rules import walk
from app.domain.paper.state import PaperOrder


def advance(order: PaperOrder, state: OrderState) -> None:
    order.state = transition(order.state, state)


def close(ledger: PaperLedger, order: PaperOrder, state: OrderState, now: datetime) -> None:
    advance(order, state)
    order.updated_at = now
    ledger.closed(order)


def take(
    ledger: PaperLedger,
    order: PaperOrder,
    market: Market,
    matches: list[tuple[Decimal, Decimal]],
    now: datetime,
) -> None:
    """Fill `order` as a taker; what does not fill expires (IOC, as venues do)."""
    ledger.take(order, market, matches, now)
    if order.filled == order.amount:
        close(ledger, order, OrderState.FILLED, now)
        return
    if order.filled:
        advance(order, OrderState.PARTIALLY_FILLED)
    close(ledger, order, OrderState.EXPIRED, now)


def fire(
    ledger: PaperLedger, order: PaperOrder, market: Market, levels: Sequence[Level], now: datetime
) -> None:
    """A triggered stop: release its hold and fill like a market order; what cannot fill
    (depth or funds) expires."""
    ledger.release(order, market)
    is_buy = order.side is Side.BUY
    matches, _, cost = walk(levels, order.amount - order.filled, None, is_buy)
    if is_buy and ledger.peek(market.quote).free < cost + cost * market.taker_fee:
        matches = []
    take(ledger, order, market, matches, now)


def make(
    ledger: PaperLedger, order: PaperOrder, market: Market, size: Decimal, now: datetime
) -> None:
    """A resting limit filled at its own price, paid from its hold."""
    ledger.make(order, market, size, now)
    if order.filled == order.amount:
        ledger.release(order, market)  # nothing is left when the arithmetic is exact; be sure
        close(ledger, order, OrderState.FILLED, now)
    else:
        advance(order, OrderState.PARTIALLY_FILLED)
