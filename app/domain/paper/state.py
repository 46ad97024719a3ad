"""The paper venue's values and refusals: balances, orders, the whole state, its changes
since a save, and its codec.

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
    # None: the orders and fills are the venue's whole history; else only the closed orders
    # and fills from this time on (a bounded load from a store, or a pruned venue).
    history_since: datetime | None = None


class PaperChanges(msgspec.Struct, frozen=True):
    """What a venue changed since its last save: the rows to write, not the whole state.

    `orders` and `balances` are copies as they are now (each at most once), `fills` the new
    ones in order; `next_order_number` is None when unchanged, `markets` is set only for a
    venue never saved before.
    """

    orders: tuple[PaperOrder, ...] = ()
    balances: tuple[PaperBalance, ...] = ()
    fills: tuple[Fill, ...] = ()
    next_order_number: int | None = None
    markets: tuple[Market, ...] | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.orders
            or self.balances
            or self.fills
            or self.markets is not None
            or self.next_order_number is not None
        )


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(PaperState)


def copy_state(state: PaperState) -> PaperState:
    """A deep copy: the mutable balances and orders inside are shared with nobody."""
    return _DECODER.decode(_ENCODER.encode(state))
