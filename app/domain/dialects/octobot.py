"""OctoBot's TradingView text: ``KEY=VALUE`` lines (or ``;``-separated), keys in any case.

VOLUME "0.1" base, "5%" percent_equity, "50q" quote (a%, s%, t% refused); ORDER_TYPE=STOP is a
stop entry at STOP_PRICE, otherwise STOP_PRICE is the stop loss; REDUCE_ONLY=true turns SELL into
close long and BUY into close short; TAG -> alert id.
"""

from __future__ import annotations

from decimal import Decimal

from app.domain.dialects.exits import Target, take_profits
from app.domain.dialects.fields import Fields, TextPairs, alert_signal
from app.domain.dialects.orders import closed_by
from app.domain.dialects.results import UnparseableAlert, invalid, missing
from app.domain.dialects.values import (
    PERCENT,
    read_choice,
    read_number,
    read_secret,
    read_symbol,
    read_text,
    read_venue,
)
from app.domain.signals import Action, OrderType, QtyMode, Signal, StopKind, StopLoss, TakeProfit

_SIGNALS = {"buy": Action.BUY, "sell": Action.SELL}
_ORDER_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT, "stop": OrderType.STOP}
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
_SECRETS = ("SECRET", "TOKEN")
_TP_KEY = "TAKE_PROFIT_PRICE"


def octobot_pairs(text: str) -> TextPairs:
    """Its KEY=VALUE pairs, its text without the secret, and the secret."""
    pairs: dict[str, str] = {}
    kept: list[str] = []
    for segment in text.replace(";", "\n").splitlines():
        key, equals, value = segment.partition("=")
        key, value = key.strip().upper(), value.strip()
        if not (key or value):
            continue
        if not equals or not key:  # never echo the line: it may hold the secret
            raise UnparseableAlert("Every line of an OctoBot alert must be KEY=VALUE; fix them.")
        if key in pairs:
            raise invalid(key, "appears twice; keep one")
        pairs[key] = value
        if key not in _SECRETS:
            kept.append(f"{key}={value}")
    found = Fields(pairs).get(*_SECRETS)
    secret = None if found is None else read_secret(found[1], found[0])
    for key in _SECRETS:
        pairs.pop(key, None)
    return pairs, "\n".join(kept), secret


def _volume(value: object, field: str) -> tuple[Decimal, QtyMode]:
    volume = read_text(value, field, 40).lower()
    if volume[-2:] in ("a%", "s%", "t%") or volume.startswith("@"):
        raise invalid(field, "must be an amount such as 0.1, 5% (of equity) or 50q (in quote)")
    if volume.endswith("%"):
        return read_number(volume[:-1], field, PERCENT), QtyMode.PERCENT_EQUITY
    if volume.endswith("q"):
        return read_number(volume[:-1], field), QtyMode.QUOTE
    return read_number(volume, field), QtyMode.BASE


def octobot_signal(f: Fields, route: str | None) -> Signal:
    instrument = read_symbol(*f.require("SYMBOL"))
    value, field = f.require("SIGNAL")
    if isinstance(value, str) and value.strip().lower() == "cancel":
        raise invalid(field, "CANCEL is not supported yet; cancel the order on the venue")
    action, position_side = read_choice(value, field, _SIGNALS), None
    if f.choice(_BOOLEANS, "REDUCE_ONLY"):  # reduce-only: it can only close
        action, position_side = Action.CLOSE, closed_by(action)
    volume, mode = f.read(_volume, "VOLUME") or (None, QtyMode.BASE)
    order_type = f.choice(_ORDER_TYPES, "ORDER_TYPE") or OrderType.MARKET
    price, stop = f.number("PRICE"), f.number("STOP_PRICE")
    if order_type is OrderType.LIMIT and price is None:
        raise missing("PRICE", "a LIMIT order needs it")
    if order_type is OrderType.STOP and stop is None:
        raise missing("STOP_PRICE", "a STOP order needs it")
    limit = price if order_type is OrderType.LIMIT else None
    tp_keys = [key for key in f.data if key == _TP_KEY or _tp_index(key) is not None]
    tp_keys.sort(key=lambda key: _tp_index(key) or 0)
    targets: list[Target] = [(TakeProfit(price=f.number(key)), None) for key in tp_keys]
    return alert_signal(
        "octobot",
        instrument,
        action,
        strategy=route,
        venue=f.read(read_venue, "EXCHANGE"),
        position_side=position_side,
        quantity=volume,
        qty_mode=mode,
        order_type=order_type,
        price=None if limit is not None else price,
        limit_price=limit,
        stop_price=stop if order_type is OrderType.STOP else None,
        take_profits=take_profits(targets, _TP_KEY),
        stop_loss=None
        if stop is None or order_type is OrderType.STOP
        else StopLoss(kind=StopKind.PRICE, value=stop),
        alert_id=f.read(read_text, "TAG"),
    )


def _tp_index(key: str) -> int | None:
    suffix = key.removeprefix(_TP_KEY + "_")
    if suffix == key or not (suffix.isascii() and suffix.isdigit() and len(suffix) <= 2):
        return None
    return int(suffix)
