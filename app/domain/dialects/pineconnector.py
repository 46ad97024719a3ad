"""PineConnector's comma text: ``LicenseID,command,symbol[,key=value...]``.

The licence id is the secret unless ``secret=`` is given; risk= -> base quantity; price= is the
pending entry, or the reference price of a market order; sl=/tp= are distances in price units from
the entry, measured from its fill at execution (so an alert needs no price for them);
slprice=/tpprice= are absolute. closelongsell/closeshortbuy reverse;
closelongbuy/closeshortsell (close, then re-enter the same side) have no Signal equivalent and are
refused.
"""

from __future__ import annotations

from typing import NoReturn

from app.domain.dialects.exits import distance
from app.domain.dialects.fields import Fields, TextPairs, alert_signal
from app.domain.dialects.orders import direction
from app.domain.dialects.results import SECRET_FIELDS, UnparseableAlert, invalid, missing
from app.domain.dialects.values import MAX_ITEMS, read_choice, read_secret, read_symbol, read_text
from app.domain.signals import (
    Action,
    OrderType,
    PositionSide,
    Signal,
    StopKind,
    StopLoss,
    TakeProfit,
)

_COMMANDS = {
    "buy": (Action.BUY, None, OrderType.MARKET),
    "long": (Action.BUY, None, OrderType.MARKET),
    "sell": (Action.SELL, None, OrderType.MARKET),
    "short": (Action.SELL, None, OrderType.MARKET),
    "buylimit": (Action.BUY, None, OrderType.LIMIT),
    "selllimit": (Action.SELL, None, OrderType.LIMIT),
    "buystop": (Action.BUY, None, OrderType.STOP),
    "sellstop": (Action.SELL, None, OrderType.STOP),
    "closelong": (Action.CLOSE, PositionSide.LONG, OrderType.MARKET),
    "closeshort": (Action.CLOSE, PositionSide.SHORT, OrderType.MARKET),
    "closeall": (Action.CLOSE, None, OrderType.MARKET),
    "closelongsell": (Action.REVERSE, PositionSide.LONG, OrderType.MARKET),
    "closeshortbuy": (Action.REVERSE, PositionSide.SHORT, OrderType.MARKET),
}


def pineconnector_pairs(text: str) -> TextPairs:
    """Its command, symbol and key=value pairs, its text without the secret, and the secret."""
    fields = [field.strip() for field in text.split(",")]
    if len(fields) < 3 or len(fields) > MAX_ITEMS:
        raise UnparseableAlert(
            "A PineConnector alert is LicenseID,command,symbol[,key=value...]; fix its fields."
        )
    pairs = {"command": fields[1], "symbol": fields[2]}
    kept = fields[1:3]
    for field in fields[3:]:
        key, equals, value = field.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not equals or not key:  # never echo the field: it may hold the secret
            raise UnparseableAlert("Every PineConnector field after the symbol must be key=value.")
        if key in pairs:
            raise invalid(key, "appears twice; keep one")
        pairs[key] = value.strip('"')
        if key not in SECRET_FIELDS:
            kept.append(f"{key}={value}")
    secret = read_secret(pairs.pop("secret", None) or fields[0], "secret") or None
    return pairs, ",".join(kept), secret


def _both_sent(field: str) -> NoReturn:
    raise invalid(field, f"and {field}price cannot both be sent; keep one")


def pineconnector_signal(f: Fields, route: str | None) -> Signal:
    instrument = read_symbol(*f.require("symbol"))
    action, position_side, order_type = read_choice(*f.require("command"), _COMMANDS)
    price = f.number("price")
    if order_type is not OrderType.MARKET and price is None:
        raise missing("price", "a pending order needs it")
    sign = direction(action, position_side)
    below = None if sign is None else -sign
    take_profit: TakeProfit | None = None
    stop_loss: StopLoss | None = None
    if (tp_price := f.number("tpprice")) is not None:
        take_profit = TakeProfit(price=tp_price)
    if (sl_price := f.number("slprice")) is not None:
        stop_loss = StopLoss(kind=StopKind.PRICE, value=sl_price)
    if (tp := f.number("tp")) is not None:
        away = distance(price, tp, sign, "tp")
        take_profit = TakeProfit(distance=away) if take_profit is None else _both_sent("tp")
    if (sl := f.number("sl")) is not None:
        away = distance(price, sl, below, "sl")
        stop_loss = StopLoss(StopKind.DISTANCE, away) if stop_loss is None else _both_sent("sl")
    return alert_signal(
        "pineconnector",
        instrument,
        action,
        strategy=route,
        position_side=position_side,
        quantity=f.number("risk"),
        order_type=order_type,
        price=price if order_type is OrderType.MARKET else None,
        limit_price=price if order_type is OrderType.LIMIT else None,
        stop_price=price if order_type is OrderType.STOP else None,
        take_profits=() if take_profit is None else (take_profit,),
        stop_loss=stop_loss,
        comment=f.read(read_text, "comment"),
    )
