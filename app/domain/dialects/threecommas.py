"""3Commas signal-bot JSON (``tv_instrument``, ``bot_uuid``, ``order``).

enter_long/enter_short -> buy/sell, exit_long/exit_short -> close that side; plain buy/sell read
``strategy_info`` like tradingview. currency_type base, quote, margin_percent -> percent_equity;
position_percent is a share of the position, so only 100 (all) is accepted.
"""

from __future__ import annotations

from app.domain.dialects.fields import Fields, alert_signal
from app.domain.dialects.orders import strategy_intent, strategy_position
from app.domain.dialects.results import invalid
from app.domain.dialects.values import (
    PERCENT,
    POSITIVE,
    read_choice,
    read_lag,
    read_symbol,
    read_text,
    read_time,
    read_venue,
)
from app.domain.signals import Action, OrderType, PositionSide, QtyMode, Signal

_ACTIONS: dict[str, tuple[Action, PositionSide | None]] = {
    "enter_long": (Action.BUY, None),
    "exit_long": (Action.CLOSE, PositionSide.LONG),
    "enter_short": (Action.SELL, None),
    "exit_short": (Action.CLOSE, PositionSide.SHORT),
    "buy": (Action.BUY, None),
    "sell": (Action.SELL, None),
}
# "position" is a percent of the open position, which no QtyMode expresses.
_UNITS = {
    "base": "base",
    "quote": "quote",
    "margin_percent": "percent_equity",
    "position_percent": "position",
}
_ORDER_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT}


def threecommas_signal(f: Fields, route: str | None) -> Signal:
    instrument = read_symbol(*f.require("tv_instrument"))
    action, position_side = read_choice(*f.require("action"), _ACTIONS)
    order = f.child("order")
    unit = order.choice(_UNITS, "currency_type") or "base"
    amount = order.number("amount", within=POSITIVE if unit in ("base", "quote") else PERCENT)
    if position_side is None:  # plain buy/sell from a strategy alert
        action, position_side, amount = strategy_intent(action, f.child("strategy_info"), amount)
    if unit == "position":
        if action is not Action.CLOSE or amount not in (None, 100):
            raise invalid(order.prefix + "currency_type", "position_percent works only as 100")
        unit, amount = "base", None
    price = f.number("trigger_price")
    order_type = order.choice(_ORDER_TYPES, "order_type") or OrderType.MARKET
    limit = (order.number("price") or price) if order_type is OrderType.LIMIT else None
    return alert_signal(
        "3commas",
        instrument,
        action,
        strategy=route or f.read(read_text, "bot_uuid"),
        venue=f.read(read_venue, "tv_exchange"),
        position_side=position_side,
        quantity=amount,
        qty_mode=QtyMode(unit),
        order_type=order_type,
        price=price,
        limit_price=limit,
        fired_at=f.read(read_time, "timestamp"),
        max_lag_seconds=f.read(read_lag, "max_lag"),
        strategy_position=strategy_position(f.child("strategy_info")),
    )
