"""A bracket as a value: the entry, its take-profit and stop-loss legs as we asked for them and as
the venue last reported them, and the updates that make a new bracket from a report."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import msgspec

from app.domain.market import Market
from app.domain.orders import (
    TERMINAL,
    Leg,
    OrderKind,
    OrderRequest,
    OrderState,
    OrderStatus,
    Side,
    transition,
)

_ZERO = Decimal(0)


class BracketState(enum.StrEnum):
    OPENING = "opening"  # entry placed, nothing filled yet
    OPEN = "open"  # a position, protected as configured
    UNPROTECTED = "unprotected"  # a protective leg could not be placed: an incident
    CLOSED = "closed"
    FAILED = "failed"  # the entry never filled (refused, cancelled, expired)


FINAL = frozenset({BracketState.CLOSED, BracketState.FAILED})


class LegOrder(msgspec.Struct, frozen=True):
    """One order of a bracket as we asked for it and as the venue last reported it."""

    leg: Leg
    client_order_id: str
    side: Side
    kind: OrderKind
    amount: Decimal
    index: int = 0  # the take-profit target
    revision: int = 0
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    state: OrderState = OrderState.SUBMITTED
    order_id: str | None = None  # the venue's id, once known
    filled: Decimal = _ZERO
    average_price: Decimal | None = None
    fee: Decimal = _ZERO
    fee_currency: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state not in TERMINAL

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    @property
    def replaces_stop(self) -> bool:
        """A stop-loss placed in place of an earlier one (moved by a trailing stop, or resized):
        it keeps a position protected and does not count toward MAX_ORDERS_PER_MINUTE."""
        return self.leg is Leg.STOP_LOSS and self.revision > 0


class Bracket(msgspec.Struct, frozen=True):
    id: str  # the signal's id
    account: str
    venue: str
    symbol: str
    side: Side  # the entry's side: buy opens a long
    market: Market  # the venue's market: steps and minimums
    opened_at: datetime
    state: BracketState = BracketState.OPENING
    take_profits: tuple[tuple[Decimal, Decimal], ...] = ()  # (price, share of the position)
    stop_loss: Decimal | None = None
    trailing_percent: Decimal | None = None  # the stop follows the best price by this much
    best_price: Decimal | None = None  # the best exit price seen since entry (trailing stops)
    trailed_at: datetime | None = None  # when the trailing stop last moved
    resting_legs: bool = False  # True: reduce-only legs rest on the venue; False: spot
    # resting legs are replaced new-first (the old one cancelled once the new one rests); True
    # once the venue refused a replacement while the old leg rested: cancel first, as on spot
    cancel_first: bool = False
    # the venue keeps no stop orders (`Capabilities.stop_market` False): the stop-loss is watched
    # here, on the exit price, and sold at market once reached
    stop_watched: bool = False
    client_id_length: int = 36  # the venue's longest client order id
    client_id_lowercase: bool = False  # the venue lower-cases client order ids
    orders: tuple[LegOrder, ...] = ()
    closing: bool = False  # a close was asked: cancel the legs, flatten, settle
    note: str | None = None
    closed_at: datetime | None = None
    realized_pnl: Decimal = _ZERO
    # what reconciliation took off the position (negative) to match what the venue holds: coins
    # sold by hand, a liquidation (`app.services.reconciliation`)
    adjusted: Decimal = _ZERO
    # what the amount taken off was worth when it was (at the venue's mid): its P&L counts as
    # an exit's, so that a liquidation or a hand sale weighs on the day's loss
    adjusted_value: Decimal = _ZERO

    # entry_filled, exited, position and entry_price are read many times per signal (the
    # planner, the P&L, the holdings rows): one plain pass over the orders each, no generators
    @property
    def entry_filled(self) -> Decimal:
        """Base amount the entries brought in, net of fees the venue took in the base asset."""
        base, side, total = self.market.base, self.side, _ZERO
        for o in self.orders:
            if o.side is side and o.leg is Leg.ENTRY:
                total += o.filled - o.fee if o.fee_currency == base else o.filled
        return total

    @property
    def exited(self) -> Decimal:
        """Base amount sold back (for a long) by the legs and exits, minus any buy-backs."""
        side, total = self.side, _ZERO
        for o in self.orders:
            if o.side is not side:
                total += o.filled
            elif o.leg is not Leg.ENTRY:
                total -= o.filled
        return total

    @property
    def position(self) -> Decimal:
        """What is still held in the entry's direction (negative: over-filled exits)."""
        return self.entry_filled - self.exited + self.adjusted

    @property
    def entry_price(self) -> Decimal | None:
        filled = value = _ZERO
        for o in self.orders:
            if o.leg is Leg.ENTRY:
                filled += o.filled
                value += o.filled * (o.average_price or _ZERO)
        return value / filled if filled else None

    def order(self, client_order_id: str) -> LegOrder:
        for order in self.orders:
            if order.client_order_id == client_order_id:
                return order
        raise KeyError(f"bracket {self.id} has no order {client_order_id}")


def with_order(bracket: Bracket, order: LegOrder) -> Bracket:
    """The bracket with `order` added, or replacing the one with its client order id."""
    orders = [o for o in bracket.orders if o.client_order_id != order.client_order_id]
    if len(orders) == len(bracket.orders):
        return msgspec.structs.replace(bracket, orders=(*bracket.orders, order))
    kept = tuple(order if o.client_order_id == order.client_order_id else o for o in bracket.orders)
    return msgspec.structs.replace(bracket, orders=kept)


def reported(order: LegOrder, status: OrderStatus) -> LegOrder:
    """`order` as the venue reports it now; the state change is checked against the table.

    Raises:
        IllegalTransition: the venue reported a change the state machine does not allow.
    """
    return msgspec.structs.replace(
        order,
        state=transition(order.state, status.state),
        order_id=status.order_id or order.order_id,
        filled=status.filled,
        average_price=status.average_price,
        fee=status.fee,
        fee_currency=status.fee_currency,
    )


def request_of(bracket: Bracket, order: LegOrder) -> OrderRequest:
    """What the venue is asked to do for `order` of `bracket`."""
    return OrderRequest(
        client_order_id=order.client_order_id,
        symbol=bracket.symbol,
        side=order.side,
        kind=order.kind,
        amount=order.amount,
        price=order.price,
        trigger_price=order.trigger_price,
        reduce_only=order.reduce_only,
    )


def still_covered(bracket: Bracket, order: LegOrder) -> bool:
    """Whether another open order of `order`'s leg and target still rests: `order` was to
    replace it (new first), so its refusal leaves the position as protected as before."""
    return order.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT) and any(
        o.is_open and o.leg is order.leg and o.index == order.index and o.order_id is not None
        for o in bracket.orders
        if o.client_order_id != order.client_order_id
    )
