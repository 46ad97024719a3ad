"""signalgate's own JSON alert: every Signal field under a plain name, with a few aliases."""

from __future__ import annotations

from decimal import Decimal

from app.domain.dialects.exits import read_stop_loss, read_take_profits
from app.domain.dialects.fields import Fields, Table, alert_signal, read_table
from app.domain.dialects.orders import (
    ORDER_TYPES,
    POSITION_SIDES,
    read_quantity,
    resolve_order_type,
)
from app.domain.dialects.values import (
    LEVERAGE,
    read_choice,
    read_confidence,
    read_lag,
    read_number,
    read_symbol,
    read_text,
    read_time,
    read_venue,
)
from app.domain.signals import Action, PositionSide, QtyMode, Signal

_ACTIONS = {
    "buy": Action.BUY,
    "long": Action.BUY,
    "sell": Action.SELL,
    "short": Action.SELL,
    "close": Action.CLOSE,
    "exit": Action.CLOSE,
    "flat": Action.CLOSE,
    "reverse": Action.REVERSE,
}
_QTY_MODES = {mode.value: mode for mode in QtyMode}


def _position_side(value: object, field: str) -> PositionSide:
    return read_choice(value, field, POSITION_SIDES)


def _leverage(value: object, field: str) -> Decimal:
    return read_number(value, field, LEVERAGE)


_FIELDS: Table = {
    "strategy": ("strategy", read_text),
    "account": ("account", read_text),
    "venue": ("venue", read_venue),
    "exchange": ("venue", read_venue),
    "position_side": ("position_side", _position_side),
    "price": ("price", read_number),
    "limit_price": ("limit_price", read_number),
    "stop_price": ("stop_price", read_number),
    "take_profit": ("take_profits", read_take_profits),
    "stop_loss": ("stop_loss", read_stop_loss),
    "leverage": ("leverage", _leverage),
    "confidence": ("confidence", read_confidence),
    "id": ("alert_id", read_text),
    "alert_id": ("alert_id", read_text),
    "time": ("fired_at", read_time),
    "timestamp": ("fired_at", read_time),
    "max_lag": ("max_lag_seconds", read_lag),
    "comment": ("comment", read_text),
}


def native_signal(f: Fields, route: str | None) -> Signal:
    instrument = read_symbol(*f.require("symbol"))
    action = read_choice(*f.require("action", "side"), _ACTIONS)
    mode = f.choice(_QTY_MODES, "qty_mode") or QtyMode.BASE
    fields = read_table(f, _FIELDS, route=route)
    order_type = resolve_order_type(
        f.choice(ORDER_TYPES, "order_type"),
        fields.get("limit_price"),
        fields.get("stop_price"),
        ("limit_price", "stop_price"),
    )
    return alert_signal(
        "native",
        instrument,
        action,
        quantity=read_quantity(f, mode, "qty", "quantity"),
        qty_mode=mode,
        order_type=order_type,
        **fields,
    )
