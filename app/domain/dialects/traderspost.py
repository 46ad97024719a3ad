"""TradersPost's webhook JSON, as its docs and TradingView templates write it.

exit, or buy/sell with sentiment flat -> close (a buy closes a short); add -> buy or sell by
sentiment; cancel is refused. quantityType fixed_quantity -> base, dollar_amount -> quote,
percent_of_equity -> percent_equity, risk_percent (ours) -> risk_percent; risk_dollar_amount has
no equivalent and is refused. takeProfit/stopLoss ``amount`` is a distance in price units from the
entry, measured from its fill at execution; a stop_limit stop loss becomes a stop at stopPrice.
"""

from __future__ import annotations

from decimal import Decimal

from app.domain.dialects.exits import distance
from app.domain.dialects.fields import Fields, alert_signal
from app.domain.dialects.orders import (
    ORDER_TYPES,
    SIDES,
    closed_by,
    direction,
    read_quantity,
    resolve_order_type,
)
from app.domain.dialects.results import invalid
from app.domain.dialects.values import PERCENT, TP_PERCENT, read_choice, read_symbol, read_time
from app.domain.signals import Action, PositionSide, QtyMode, Signal, StopKind, StopLoss, TakeProfit

_ACTIONS = {"buy": "buy", "sell": "sell", "exit": "exit", "add": "add"}
_SENTIMENTS = {
    "bullish": "long",
    "long": "long",
    "bearish": "short",
    "short": "short",
    "flat": "flat",
}
_QTY_MODES = {
    "fixed_quantity": QtyMode.BASE,
    "dollar_amount": QtyMode.QUOTE,
    "percent_of_equity": QtyMode.PERCENT_EQUITY,
    "risk_percent": QtyMode.RISK_PERCENT,  # ours; TradersPost's risk_dollar_amount has no twin
}
_STOP_TYPES = {"stop": "stop", "stop_limit": "stop", "trailing_stop": "trailing_stop"}


def _intent(f: Fields) -> tuple[Action, PositionSide | None]:
    value, field = f.require("action")
    if isinstance(value, str) and value.strip().lower() == "cancel":
        raise invalid(field, "cancel is not supported yet; cancel the order on the venue")
    word = read_choice(value, field, _ACTIONS)
    sentiment = f.choice(_SENTIMENTS, "sentiment")
    if word == "exit":
        return Action.CLOSE, None
    if word == "add":
        if sentiment not in ("long", "short"):
            raise invalid(f.prefix + "sentiment", "must be bullish or bearish with add")
        return (Action.BUY if sentiment == "long" else Action.SELL), None
    if sentiment == "flat":
        return Action.CLOSE, closed_by(SIDES[word])
    return SIDES[word], None


def _take_profit(tp: Fields, entry: Decimal | None, sign: int | None) -> tuple[TakeProfit, ...]:
    price, percent = tp.number("limitPrice"), tp.number("percent", within=TP_PERCENT)
    amount = tp.number("amount")
    if (price, percent, amount).count(None) == 3:
        return ()
    if (price, percent, amount).count(None) != 2:
        raise invalid(tp.prefix[:-1], "needs exactly one of limitPrice, percent or amount")
    if amount is not None:
        amount = distance(entry, amount, sign, tp.prefix + "amount")
    return (TakeProfit(price=price, percent=percent, distance=amount),)


def _stop_loss(sl: Fields, entry: Decimal | None, sign: int | None) -> StopLoss | None:
    amount = sl.number("amount")
    if amount is not None:  # below the entry of a long, above that of a short
        below = None if sign is None else -sign
        amount = distance(entry, amount, below, sl.prefix + "amount")
    given = [
        (kind, value)
        for kind, value in (
            (StopKind.PRICE, sl.number("stopPrice")),
            (StopKind.DISTANCE, amount),
            (StopKind.PERCENT, sl.number("percent", within=PERCENT)),
            (StopKind.TRAILING, sl.number("trailPercent", within=PERCENT)),
        )
        if value is not None
    ]
    stop_type = sl.choice(_STOP_TYPES, "type")
    if not given and stop_type is None:
        return None
    if len(given) != 1:
        raise invalid(sl.prefix[:-1], "needs one of stopPrice, percent, trailPercent or amount")
    kind, value = given[0]
    if stop_type is not None and (stop_type == "trailing_stop") != (kind is StopKind.TRAILING):
        raise invalid(sl.prefix + "type", "must be trailing_stop exactly when trailPercent is sent")
    return StopLoss(kind=kind, value=value)


def traderspost_signal(f: Fields, route: str | None) -> Signal:
    instrument = read_symbol(*f.require("ticker"))
    action, position_side = _intent(f)
    mode = f.choice(_QTY_MODES, "quantityType") or QtyMode.BASE
    limit, stop = f.number("limitPrice"), f.number("stopPrice")
    price = f.number("price", "signalPrice")
    entry, sign = limit or stop or price, direction(action, position_side)
    return alert_signal(
        "traderspost",
        instrument,
        action,
        strategy=route,
        position_side=position_side,
        quantity=read_quantity(f, mode, "quantity"),
        qty_mode=mode,
        order_type=resolve_order_type(
            f.choice(ORDER_TYPES, "orderType"), limit, stop, ("limitPrice", "stopPrice")
        ),
        price=price,
        limit_price=limit,
        stop_price=stop,
        take_profits=_take_profit(f.child("takeProfit"), entry, sign),
        stop_loss=_stop_loss(f.child("stopLoss"), entry, sign),
        fired_at=f.read(read_time, "time"),
    )
