"""Orders as the venues see them: requests, states and their allowed transitions, fills.

Every order carries a deterministic client order id derived from the signal and the leg, so a
retried job can look an order up instead of placing it twice.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import msgspec


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class Leg(enum.StrEnum):
    ENTRY = "entry"
    TAKE_PROFIT = "tp"
    STOP_LOSS = "sl"
    EXIT = "exit"  # a flattening order (close, reverse, unprotected-bracket policy)


class OrderKind(enum.StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"  # a market order once the price crosses the trigger
    TAKE_PROFIT_MARKET = "take_profit_market"


class OrderState(enum.StrEnum):
    SUBMITTED = "submitted"  # sent, no answer yet
    ACCEPTED = "accepted"  # resting on the venue
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCEL_PENDING = "cancel_pending"
    CANCELLED = "cancelled"
    REJECTED = "rejected"  # refused by the venue (not by our risk gate: that is a denial)
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # the venue did not answer: look it up by client order id


_S = OrderState
TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    _S.SUBMITTED: frozenset(
        {
            _S.ACCEPTED,
            _S.PARTIALLY_FILLED,
            _S.FILLED,
            _S.REJECTED,
            _S.CANCELLED,
            _S.UNKNOWN,
            _S.EXPIRED,
        }
    ),
    _S.ACCEPTED: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCEL_PENDING, _S.CANCELLED, _S.EXPIRED, _S.UNKNOWN}
    ),
    _S.PARTIALLY_FILLED: frozenset(
        {_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCEL_PENDING, _S.CANCELLED, _S.EXPIRED, _S.UNKNOWN}
    ),
    _S.CANCEL_PENDING: frozenset(
        {_S.CANCELLED, _S.PARTIALLY_FILLED, _S.FILLED, _S.EXPIRED, _S.UNKNOWN}
    ),  # a cancel can lose the race to a fill
    _S.UNKNOWN: frozenset(
        {_S.ACCEPTED, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELLED, _S.REJECTED, _S.EXPIRED}
    ),  # resolved by looking the order up
    _S.FILLED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.REJECTED: frozenset(),
    _S.EXPIRED: frozenset(),
}
TERMINAL = frozenset(state for state, nxt in TRANSITIONS.items() if not nxt)


class IllegalTransition(ValueError):
    pass


def transition(current: OrderState, new: OrderState) -> OrderState:
    """Check one state change against the table; staying in a state is always allowed."""
    if new is current or new in TRANSITIONS[current]:
        return new
    raise IllegalTransition(f"an order cannot go from {current} to {new}")


def client_order_id(signal_id: str, leg: Leg, revision: int = 0, *, max_length: int = 36) -> str:
    """The deterministic id of one leg of one signal's bracket: `sg<signal><leg><revision>`.

    Args:
        signal_id: the 26-character signal id.
        leg: which leg.
        revision: bumped when a leg is replaced (resized after a partial fill, moved).
        max_length: the venue's limit on client order ids (Binance: 36).
    """
    value = f"sg{signal_id}{leg.value}{revision}"
    if len(value) > max_length:
        raise ValueError(f"client order id {value!r} is longer than the venue's {max_length}")
    return value


class OrderRequest(msgspec.Struct, frozen=True):
    client_order_id: str
    symbol: str
    side: Side
    kind: OrderKind
    amount: Decimal
    price: Decimal | None = None  # limit price
    trigger_price: Decimal | None = None  # stop / take-profit trigger
    reduce_only: bool = False


class Fill(msgspec.Struct, frozen=True):
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_currency: str
    at: datetime
    maker: bool = False


class OrderStatus(msgspec.Struct, frozen=True):
    """An order as the venue last reported it."""

    order_id: str  # the venue's id
    client_order_id: str
    symbol: str
    side: Side
    kind: OrderKind
    state: OrderState
    amount: Decimal
    filled: Decimal = Decimal(0)
    average_price: Decimal | None = None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    fee: Decimal = Decimal(0)
    fee_currency: str | None = None
    reduce_only: bool = False
    updated_at: datetime | None = None

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled
