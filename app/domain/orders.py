"""Orders as the venues see them: requests, states and their allowed transitions, fills.

Every order carries a deterministic client order id derived from the signal and the leg, so a
retried job can look an order up instead of placing it twice.
"""

from __future__ import annotations

import base64
import enum
import hashlib
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
# sent without an answer yet, or whose cancel is on its way: what it did is not known yet
UNSETTLED = frozenset({OrderState.SUBMITTED, OrderState.UNKNOWN, OrderState.CANCEL_PENDING})


class IllegalTransition(ValueError):
    pass


def transition(current: OrderState, new: OrderState) -> OrderState:
    """Check one state change against the table; staying in a state is always allowed."""
    if new is current or new in TRANSITIONS[current]:
        return new
    raise IllegalTransition(f"an order cannot go from {current} to {new}")


CLIENT_ORDER_ID_PREFIX = "sg"  # every client order id signalgate sends starts with it
_LEG_CODES = {Leg.ENTRY: "en", Leg.TAKE_PROFIT: "tp", Leg.STOP_LOSS: "sl", Leg.EXIT: "ex"}
MAX_TARGETS = 10  # take-profit targets per bracket: the index is one digit
_MIN_DIGEST_LENGTH = 16  # 14 base32 characters of digest: 70 bits, no collision in practice


def client_order_id(
    signal_id: str,
    leg: Leg,
    revision: int = 0,
    *,
    index: int = 0,
    max_length: int = 36,
    lowercase: bool = False,
) -> str:
    """The deterministic id of one leg of one signal's bracket: `sg<signal><leg><index><revision>`,
    or, where the venue allows fewer characters, `sg` and a digest of that, cut to fit.

    Args:
        signal_id: the 26-character signal id.
        leg: which leg (a two-letter code in the id).
        revision: bumped when a leg is replaced (resized after a partial fill, moved).
        index: which take-profit target (one digit, so ids never collide).
        max_length: the venue's limit on client order ids (Binance 36, OKX 32, Gate 28).
        lowercase: the venue keeps client order ids in lower case (BingX): the id is made so,
            so that what the venue shows is the id itself (signal ids are case-blind ULIDs).
    """
    if not 0 <= index < MAX_TARGETS:
        raise ValueError(f"a bracket has at most {MAX_TARGETS} take-profit targets")
    value = f"{CLIENT_ORDER_ID_PREFIX}{signal_id}{_LEG_CODES[leg]}{index}{revision}"
    if len(value) <= max_length:
        return value.lower() if lowercase else value
    if max_length < _MIN_DIGEST_LENGTH:
        raise ValueError(f"a client order id needs at least {_MIN_DIGEST_LENGTH} characters")
    digest = base64.b32encode(hashlib.sha256(value.encode()).digest()).decode().lower()
    return CLIENT_ORDER_ID_PREFIX + digest[: max_length - len(CLIENT_ORDER_ID_PREFIX)]


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
