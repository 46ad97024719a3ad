"""`signalgate send`: post an alert from the command line, in any supported dialect."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

DIALECTS = ("native", "tradingview", "traderspost", "3commas", "octobot", "pineconnector")


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


def _level(value: str, key: str = "price") -> dict[str, str]:
    return {"percent": value[:-1]} if value.endswith("%") else {key: value}


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def render(trade: Trade, dialect: str, now: datetime | None = None) -> str:
    """The alert body for `trade` in `dialect`, as a user would configure it in TradingView."""
    fired = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    close = trade.action == "close"
    match dialect:
        case "native":
            return json.dumps(
                _compact(
                    {
                        "symbol": trade.symbol,
                        "action": trade.action,
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
        case "tradingview":
            return json.dumps(
                _compact(
                    {
                        "ticker": trade.symbol,
                        "action": "sell" if close else trade.action,
                        "contracts": trade.qty,
                        "price": trade.price,
                        "market_position": "flat" if close else _position(trade.action),
                        "order_id": trade.alert_id,
                        "strategy": trade.strategy,
                        "confidence": trade.confidence,
                        "tp": trade.tp,
                        "sl": trade.sl,
                        "timenow": fired,
                        "secret": trade.secret,
                    }
                )
            )
        case "traderspost":
            tp = _level(trade.tp, "limitPrice") if trade.tp else None
            sl = {"type": "stop", **_level(trade.sl, "stopPrice")} if trade.sl else None
            return json.dumps(
                _compact(
                    {
                        "ticker": trade.symbol,
                        "action": "exit" if close else trade.action,
                        "quantity": trade.qty,
                        "quantityType": "fixed_quantity" if trade.qty else None,
                        "price": trade.price,
                        "takeProfit": tp,
                        "stopLoss": sl,
                        "strategy": trade.strategy,
                        "time": fired,
                        "passphrase": trade.secret,
                    }
                )
            )
        case "3commas":
            action = {"buy": "enter_long", "sell": "enter_short", "close": "exit_long"}
            return json.dumps(
                _compact(
                    {
                        "secret": trade.secret,
                        "max_lag": "300",
                        "timestamp": fired,
                        "trigger_price": trade.price,
                        "tv_instrument": trade.symbol,
                        "action": action.get(trade.action, trade.action),
                        "bot_uuid": trade.strategy,
                        "order": _compact({"amount": trade.qty, "currency_type": "base"})
                        if trade.qty
                        else None,
                    }
                )
            )
        case "octobot":
            pairs = {
                "SIGNAL": trade.action.upper(),
                "SYMBOL": trade.symbol,
                "ORDER_TYPE": "MARKET",
                "VOLUME": trade.qty,
                "PRICE": trade.price,
                "TAKE_PROFIT_PRICE": trade.tp,
                "STOP_PRICE": trade.sl,
                "TAG": trade.alert_id,
                "SECRET": trade.secret,
            }
            return ";".join(f"{k}={v}" for k, v in pairs.items() if v is not None) + ";"
        case "pineconnector":
            command = {"close": "closeall", "reverse": "closelongbuy"}.get(
                trade.action, trade.action
            )
            parts = [trade.secret or "0", command, trade.symbol]
            for key, value in (
                ("risk", trade.qty),
                ("price", trade.price),
                ("tpprice", trade.tp),
                ("slprice", trade.sl),
            ):
                if value is not None:
                    parts.append(f"{key}={value}")
            return ",".join(parts)
    raise ValueError(f"unknown dialect {dialect!r}: use one of {', '.join(DIALECTS)}")


def _position(action: str) -> str:
    return "short" if action == "sell" else "long"


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
    )
    body = render(trade, args.dialect)
    url = (
        args.url.rstrip("/") + "/webhook" + (f"/{args.path_strategy}" if args.path_strategy else "")
    )
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
    send.add_argument(
        "--action", "--side", choices=("buy", "sell", "close", "reverse"), default="buy"
    )
    send.add_argument("--qty", help="base quantity, e.g. 0.01")
    send.add_argument("--price", help="reference price (TradingView {{close}})")
    send.add_argument("--tp", help="take-profit price, or a percent like 2%%")
    send.add_argument("--sl", help="stop-loss price, or a percent like 1%%")
    send.add_argument("--strategy", help="strategy name carried in the alert")
    send.add_argument("--path-strategy", help="post to /webhook/<name> instead of /webhook")
    send.add_argument("--confidence", help="0..1")
    send.add_argument("--id", help="the alert's own id (deduplication)")
    send.add_argument(
        "--secret",
        default=os.environ.get("WEBHOOK_SECRET"),
        help="shared secret (default: $WEBHOOK_SECRET)",
    )
    send.set_defaults(func=cmd_send)
