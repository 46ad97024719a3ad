"""The paper venue's values and refusals: balances, orders, the whole state, and its codec.

A `PaperState` is plain data, so it can be kept anywhere: msgspec writes its Decimals as
strings, exact both ways.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

import msgspec

from app.domain.market import Market
from app.domain.orders import Fill, OrderKind, OrderState, Side

_ZERO = Decimal(0)
DEFAULT_BALANCES: Mapping[str, Decimal] = {"USDT": Decimal(50000)}
OPEN_STATES = frozenset({OrderState.ACCEPTED, OrderState.PARTIALLY_FILLED})


class PaperRejection(Exception):
    """The paper venue refused a request; the message is one sentence for the user."""


class InvalidPaperOrder(PaperRejection):
    """Unknown symbol, bad amount or price, below the minimums, would trigger at once."""


class InsufficientPaperFunds(PaperRejection):
    pass


class DuplicateClientOrderId(PaperRejection):
    pass


class PaperOrderNotFound(PaperRejection):
    pass


class OrderClosed(PaperOrderNotFound):
    """The order exists but is filled, cancelled or expired: it cannot be cancelled."""


class PaperBalance(msgspec.Struct):
    asset: str
    free: Decimal = _ZERO
    reserved: Decimal = _ZERO  # held by resting orders


class PaperOrder(msgspec.Struct):
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    kind: OrderKind
    amount: Decimal
    state: OrderState
    created_at: datetime
    updated_at: datetime
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    filled: Decimal = _ZERO
    cost: Decimal = _ZERO  # quote, before fees
    fee: Decimal = _ZERO  # quote
    reserved: Decimal = _ZERO  # quote for buys, base for sells


class PaperState(msgspec.Struct, frozen=True):
    """Everything a venue holds, as plain values (books excluded: the feed sends them again)."""

    name: str
    markets: tuple[Market, ...]
    balances: tuple[PaperBalance, ...]
    orders: tuple[PaperOrder, ...]
    fills: tuple[Fill, ...]
    next_order_number: int


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(PaperState)


def copy_state(state: PaperState) -> PaperState:
    """A deep copy: the mutable balances and orders inside are shared with nobody."""
    return _DECODER.decode(_ENCODER.encode(state))
