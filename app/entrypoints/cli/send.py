"""`signalgate send`: post an alert from the command line, in any supported dialect."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from app.domain.dialects import DIALECTS

T = TypeVar("T")


ACTIONS = ("buy", "sell", "close", "reverse")
POSITION_SIDES = ("long", "short")

# The dialects whose alerts name a strategy; the others name it in the URL (/webhook/<name>).
_STRATEGY_IN_BODY = frozenset({"native", "tradingview", "3commas"})


@dataclass(frozen=True)
class Trade:
    """What the user asked to send, before it is written in a dialect."""

    symbol: str
    action: str  # buy | sell | close | reverse
    qty: str | None = None
    price: str | None = None
    tp: str | None = None  # "67000" or "2%"
    sl: str | None = None
    strategy: str | None = None
    confidence: str | None = None
    alert_id: str | None = None
    secret: str | None = None
    position_side: str | None = None  # long | short: the position a close or reverse refers to


# (action, position side) -> how each dialect writes it, as its parser in app.domain.dialects reads
# it back. A missing key is a trade the dialect cannot express.
_Key = tuple[str, str | None]
_TRADINGVIEW: dict[_Key, tuple[str, str, str | None]] = {  # side, market_position, previous
    ("buy", None): ("buy", "long", None),
    ("sell", None): ("sell", "short", None),
    ("close", "long"): ("sell", "flat", "long"),
    ("close", "short"): ("buy", "flat", "short"),
    ("reverse", "long"): ("sell", "short", "long"),
    ("reverse", "short"): ("buy", "long", "short"),
}
_TRADERSPOST: dict[_Key, tuple[str, str | None]] = {  # action, sentiment
    ("buy", None): ("buy", None),
    ("sell", None): ("sell", None),
    ("close", None): ("exit", None),
    ("close", "long"): ("sell", "flat"),
    ("close", "short"): ("buy", "flat"),
}
_THREECOMMAS: dict[_Key, str] = {  # a reverse is a plain buy/sell with strategy_info
    ("buy", None): "enter_long",
    ("sell", None): "enter_short",
    ("close", "long"): "exit_long",
    ("close", "short"): "exit_short",
    ("reverse", "long"): "sell",
    ("reverse", "short"): "buy",
}
_OCTOBOT: dict[_Key, tuple[str, bool]] = {  # SIGNAL, REDUCE_ONLY
    ("buy", None): ("BUY", False),
    ("sell", None): ("SELL", False),
    ("close", "long"): ("SELL", True),
    ("close", "short"): ("BUY", True),
}
_PINECONNECTOR: dict[_Key, str] = {
    ("buy", None): "buy",
    ("sell", None): "sell",
    ("close", None): "closeall",
    ("close", "long"): "closelong",
    ("close", "short"): "closeshort",
    ("reverse", "long"): "closelongsell",
    ("reverse", "short"): "closeshortbuy",
}
_OPPOSITE = {"long": "short", "short": "long"}


def _level(value: str, key: str = "price") -> dict[str, str]:
    return {"percent": value[:-1]} if value.endswith("%") else {key: value}


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _command(table: Mapping[_Key, T], trade: Trade, dialect: str) -> T:
    """The dialect's way of writing the trade's action, or a ValueError saying what to use."""
    key = (trade.action, trade.position_side)
    if key in table:
        return table[key]
    if any(action == trade.action for action, _ in table):
        raise ValueError(
            f"The {dialect} dialect cannot {trade.action} without naming the position; "
            "add --position-side long or short."
        )
    raise ValueError(
        f"The {dialect} dialect cannot {trade.action} a position; "
        "send a close, then a buy or sell, or use --dialect native."
    )


def _prices_only(trade: Trade, dialect: str) -> None:
    if any(level and level.endswith("%") for level in (trade.tp, trade.sl)):
        raise ValueError(
            f"The {dialect} dialect takes take-profit and stop-loss prices, not percents; "
            "give --tp and --sl as prices, or use --dialect native."
        )


def _plain_text(trade: Trade, dialect: str, separators: str) -> None:
    values = (trade.symbol, trade.qty, trade.price, trade.tp, trade.sl, trade.alert_id)
    if any(char in value for value in (*values, trade.secret) if value for char in separators):
        shown = " or ".join(repr(char) for char in separators)
        raise ValueError(
            f"A {dialect} alert cannot hold {shown} inside a value; remove it from the values."
        )


def render(trade: Trade, dialect: str, now: datetime | None = None) -> str:
    """The alert body for `trade` in `dialect`, as a user would configure it in TradingView.

    Each body reads back, through `app.domain.dialects.parse_alert`, as the trade's signal, less
    what the dialect has no field for: traderspost drops the confidence and the alert id,
    3commas the take-profit, stop-loss, confidence and alert id (its bot sets its own), octobot
    the confidence, pineconnector the confidence and alert id. traderspost, octobot and
    pineconnector name no strategy in the body: `signalgate send` puts it in the URL.

    Raises:
        ValueError: the dialect cannot express the trade; the message says what to use instead.
    """
    if trade.action not in ACTIONS:
        raise ValueError(f"Unknown action {trade.action!r}; use one of {', '.join(ACTIONS)}.")
    if trade.position_side not in (None, *POSITION_SIDES):
        raise ValueError(f"Unknown position side {trade.position_side!r}; use long or short.")
    if trade.position_side is not None and trade.action in ("buy", "sell"):
        raise ValueError("A position side names what a close or reverse acts on; drop it here.")
    fired = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    match dialect:
        case "native":
            return _native(trade, fired)
        case "tradingview":
            return _tradingview(trade, fired)
        case "traderspost":
            return _traderspost(trade, fired)
        case "3commas":
            return _threecommas(trade, fired)
        case "octobot":
            return _octobot(trade)
        case "pineconnector":
            return _pineconnector(trade)
    raise ValueError(f"Unknown dialect {dialect!r}; use one of {', '.join(DIALECTS)}.")


def _native(trade: Trade, fired: str) -> str:
    return json.dumps(
        _compact(
            {
                "symbol": trade.symbol,
                "action": trade.action,
                "position_side": trade.position_side,
                "qty": trade.qty,
                "price": trade.price,
                "take_profit": _level(trade.tp) if trade.tp else None,
                "stop_loss": _level(trade.sl) if trade.sl else None,
                "strategy": trade.strategy,
                "confidence": trade.confidence,
                "id": trade.alert_id,
                "time": fired,
                "secret": trade.secret,
            }
        )
    )


def _tradingview(trade: Trade, fired: str) -> str:
    side, position, previous = _command(_TRADINGVIEW, trade, "tradingview")
    if trade.action == "close" and trade.qty is not None:
        raise ValueError(
            "The tradingview dialect closes the whole position; "
            "drop --qty, or use --dialect native."
        )
    reverse = trade.action == "reverse"  # Pine's contracts would include the closed position
    return json.dumps(
        _compact(
            {
                "ticker": trade.symbol,
                "action": side,
                "contracts": None if reverse else trade.qty,
                "price": trade.price,
                "market_position": position,
                "market_position_size": trade.qty if reverse else None,
                "prev_market_position": previous,
                "id": trade.alert_id,  # not order_id: Pine repeats that on every entry
                "strategy": trade.strategy,
                "confidence": trade.confidence,
                "tp": _level(trade.tp) if trade.tp and trade.tp.endswith("%") else trade.tp,
                "sl": _level(trade.sl) if trade.sl and trade.sl.endswith("%") else trade.sl,
                "timenow": fired,
                "secret": trade.secret,
            }
        )
    )


def _traderspost(trade: Trade, fired: str) -> str:
    action, sentiment = _command(_TRADERSPOST, trade, "traderspost")
    tp = _level(trade.tp, "limitPrice") if trade.tp else None
    sl = {"type": "stop", **_level(trade.sl, "stopPrice")} if trade.sl else None
    return json.dumps(
        _compact(
            {
                "ticker": trade.symbol,
                "action": action,
                "sentiment": sentiment,
                "quantity": trade.qty,
                "quantityType": "fixed_quantity" if trade.qty else None,
                "price": trade.price,
                "takeProfit": tp,
                "stopLoss": sl,
                "time": fired,
                "passphrase": trade.secret,
            }
        )
    )


def _threecommas(trade: Trade, fired: str) -> str:
    action = _command(_THREECOMMAS, trade, "3commas")
    reverse = trade.action == "reverse"
    strategy_info = None
    if reverse and trade.position_side is not None:
        strategy_info = _compact(
            {
                "market_position": _OPPOSITE[trade.position_side],
                "prev_market_position": trade.position_side,
                "market_position_size": trade.qty,
            }
        )
    amount = None if reverse else trade.qty
    return json.dumps(
        _compact(
            {
                "secret": trade.secret,
                "max_lag": "300",
                "timestamp": fired,
                "trigger_price": trade.price,
                "tv_instrument": trade.symbol,
                "action": action,
                "bot_uuid": trade.strategy,
                "order": {"amount": amount, "currency_type": "base"} if amount else None,
                "strategy_info": strategy_info,
            }
        )
    )


def _octobot(trade: Trade) -> str:
    signal, reduce_only = _command(_OCTOBOT, trade, "octobot")
    _prices_only(trade, "octobot")
    _plain_text(trade, "octobot", ";\n")
    pairs = {
        "SIGNAL": signal,
        "REDUCE_ONLY": "true" if reduce_only else None,
        "SYMBOL": trade.symbol,
        "ORDER_TYPE": "MARKET",
        "VOLUME": trade.qty,
        "PRICE": trade.price,
        "TAKE_PROFIT_PRICE": trade.tp,
        "STOP_PRICE": trade.sl,  # with a MARKET order, the stop loss
        "TAG": trade.alert_id,
        "SECRET": trade.secret,
    }
    return ";".join(f"{k}={v}" for k, v in pairs.items() if v is not None) + ";"


def _pineconnector(trade: Trade) -> str:
    command = _command(_PINECONNECTOR, trade, "pineconnector")
    _prices_only(trade, "pineconnector")
    _plain_text(trade, "pineconnector", ",\n")
    parts = [trade.secret or "0", command, trade.symbol]  # the licence id carries the secret
    for key, value in (
        ("risk", trade.qty),
        ("price", trade.price),
        ("tpprice", trade.tp),
        ("slprice", trade.sl),
    ):
        if value is not None:
            parts.append(f"{key}={value}")
    return ",".join(parts)


def cmd_send(args: argparse.Namespace) -> int:
    trade = Trade(
        symbol=args.symbol,
        action=args.action,
        qty=args.qty,
        price=args.price,
        tp=args.tp,
        sl=args.sl,
        strategy=args.strategy,
        confidence=args.confidence,
        alert_id=args.id,
        secret=args.secret,
        position_side=args.position_side,
    )
    try:
        body = render(trade, args.dialect)
    except ValueError as exc:
        print(f"signalgate send: {exc}", file=sys.stderr)
        return 2
    route = args.path_strategy
    if route is None and args.dialect not in _STRATEGY_IN_BODY:
        route = args.strategy  # the alert has no strategy field: name it in the URL
    url = args.url.rstrip("/") + "/webhook" + (f"/{quote(route, safe='')}" if route else "")
    import httpx  # noqa: PLC0415 - `serve` parses this command too: it starts faster without

    try:
        response = httpx.post(url, content=body, headers={"Content-Type": "text/plain"}, timeout=10)
    except httpx.HTTPError as exc:
        print(f"signalgate send: could not reach {url}: {exc}", file=sys.stderr)
        return 1
    print(f"{response.status_code} {response.text}")
    return 0 if response.status_code < 400 else 1


def add_send_command(commands: Any) -> None:
    send = commands.add_parser(
        "send",
        help="post an alert to a running signalgate",
        description="Post an alert, written in the chosen dialect, to a running signalgate.",
    )
    port = os.environ.get("PORT", "8000")
    send.add_argument("--url", default=f"http://127.0.0.1:{port}", help="base URL of signalgate")
    send.add_argument("--dialect", choices=DIALECTS, default="native")
    send.add_argument("--symbol", default="BINANCE:BTCUSDT", help="ticker, e.g. BINANCE:BTCUSDT.P")
    send.add_argument("--action", "--side", choices=ACTIONS, default="buy")
    send.add_argument(
        "--position-side",
        choices=POSITION_SIDES,
        help="the position a close or reverse acts on (some dialects need it)",
    )
    send.add_argument("--qty", help="base quantity, e.g. 0.01")
    send.add_argument("--price", help="reference price (TradingView {{close}})")
    send.add_argument("--tp", help="take-profit price, or a percent like 2%%")
    send.add_argument("--sl", help="stop-loss price, or a percent like 1%%")
    send.add_argument("--strategy", help="strategy name carried in the alert (or in the URL)")
    send.add_argument("--path-strategy", help="post to /webhook/<name> instead of /webhook")
    send.add_argument("--confidence", help="0..1")
    send.add_argument("--id", help="the alert's own id (deduplication)")
    send.add_argument(
        "--secret",
        default=os.environ.get("WEBHOOK_SECRET"),
        help="shared secret (default: $WEBHOOK_SECRET)",
    )
    send.set_defaults(func=cmd_send)
