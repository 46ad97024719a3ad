"""Binance's private streams of order updates, for the fakes of tests/venues/binance.py (spot) and
tests/venues/binance_usdm.py (USD-M), served by tests/venues/streams.py.

Spot: the WebSocket API (`/ws-api/v3`). ccxt 4.5.90 `pro/binance.py` no longer asks for a listen
key for spot: `authenticate()` sends `userDataStream.subscribe.signature` (params `apiKey`,
`timestamp`, `recvWindow`, HMAC-SHA256 `signature` of the sorted params, as REST signs them)
and waits for `{"id", "status": 200, "result": {"subscriptionId": N}}`; the account's events
then arrive on the same connection as `{"subscriptionId": N, "event": {...}}`, an order's as
`executionReport` (Binance spot docs: WebSocket API "User Data Stream requests", User Data
Stream "Order Update"; a cancel's report carries the cancelled order's client id in `C`).

USD-M: a listen key (`POST /fapi/v1/listenKey` with the `X-MBX-APIKEY` header only, kept alive
by `PUT`), then `<ws>/private/ws?listenKey=KEY` (ccxt's `get_private_ws_url` for `linear`), whose
events are pushed bare: `ORDER_TRADE_UPDATE` for orders of the matching engine (an algo order's
actual order too), `ALGO_UPDATE` for algo orders (`caid`, `aid`, `X` NEW / TRIGGERED / FINISHED /
CANCELED; USD-M docs: User Data Streams "Event: Order Update", "Event: Algo Order Update").
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from tests.venues.core import FILLED, OPEN, REJECTED, Book, Json, Order, now_ms

if TYPE_CHECKING:
    from tests.venues.binance import BinanceSpot
    from tests.venues.binance_usdm import BinanceUsdm

_requests = itertools.count(1)


def _text(value: Any) -> str:
    from tests.venues.binance import text  # noqa: PLC0415 - binance imports this module

    return text(value)


def _execution(order: Order) -> tuple[str, str]:
    """Binance's execution type and order status of `order` as it stands now."""
    if order.status == OPEN:
        return ("TRADE", "PARTIALLY_FILLED") if order.filled else ("NEW", "NEW")
    if order.status == FILLED:
        return "TRADE", "FILLED"
    if order.status == REJECTED:
        return "REJECTED", "REJECTED"
    return ("EXPIRED", "EXPIRED") if order.extra.get("expired") else ("CANCELED", "CANCELED")


@dataclass
class SpotUserStream:
    """One connection to the spot WebSocket API."""

    venue: BinanceSpot
    subscription: int | None = None

    def answer(self, message: Json) -> list[Json]:
        assert isinstance(message, dict)
        request_id, method = message.get("id"), message.get("method")
        if method != "userDataStream.subscribe.signature":
            return [{"id": request_id, "status": 400,
                     "error": {"code": -1100, "msg": f"Unknown method {method!r}."}}]  # fmt: skip
        params = dict(message.get("params") or {})
        error = self._refused(params)
        if error is not None:
            return [{"id": request_id, "status": 401, "error": error}]
        self.subscription = next(_requests) - 1
        return [{"id": request_id, "status": 200, "result": {"subscriptionId": self.subscription},
                 "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                 "intervalNum": 1, "limit": 6000, "count": 2}]}]  # fmt: skip

    def _refused(self, params: dict[str, Any]) -> dict[str, Any] | None:
        signature = str(params.pop("signature", ""))
        if params.get("apiKey") != self.venue.api_key:
            return {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
        payload = urlencode(sorted((k, str(v)) for k, v in params.items()))
        expected = hmac.new(self.venue.secret.encode(), payload.encode(), hashlib.sha256)
        if not hmac.compare_digest(signature, expected.hexdigest()):
            return {"code": -1022, "msg": "Signature for this request is not valid."}
        window = int(params.get("recvWindow", 5000))
        if abs(now_ms() - int(params.get("timestamp", 0))) > window:
            return {"code": -1021, "msg": "Timestamp for this request is outside of the"
                    " recvWindow."}  # fmt: skip
        return None

    def book_events(self, symbol: str, before: Book, after: Book) -> list[Json]:
        return []

    def events(self, order: Order) -> list[Json]:
        if self.subscription is None:
            return []
        return [{"subscriptionId": self.subscription, "event": execution_report(self.venue, order)}]


def execution_report(venue: BinanceSpot, order: Order) -> dict[str, Any]:
    """`executionReport` of `order` as it stands now."""
    shown = venue.shown(order)
    execution, status = _execution(order)[0], shown["status"]
    last = next((t for t in reversed(venue.trades) if t.order_id == order.id), None)
    traded = execution == "TRADE" and last is not None
    cancelled = status in ("CANCELED", "EXPIRED")
    execution = status if cancelled else execution
    now = now_ms()
    return {
        "e": "executionReport", "E": now, "s": order.symbol,
        "c": f"web_{venue.next_id()}" if cancelled else order.client_id,
        "S": order.side.upper(), "o": shown["type"], "f": shown["timeInForce"],
        "q": shown["origQty"], "p": shown["price"], "P": shown["stopPrice"], "F": "0.00000000",
        "g": -1, "C": order.client_id if cancelled else "", "x": execution, "X": status,
        "r": "NONE", "i": int(order.id),
        "l": _text(last.amount) if traded and last else "0",
        "z": shown["executedQty"],
        "L": _text(last.price) if traded and last else "0",
        "n": _text(last.fee) if traded and last else "0",
        "N": venue.markets[order.symbol].quote if traded else None,
        "T": order.updated_ms or now, "t": int(last.id) if traded and last else -1,
        "I": int(venue.next_id()), "w": order.status == OPEN and shown["isWorking"],
        "m": bool(last.maker) if traded and last else False, "M": False,
        "O": order.created_ms, "Z": shown["cummulativeQuoteQty"],
        "Y": _text(last.price * last.amount) if traded and last else "0", "Q": "0",
        "W": order.created_ms, "V": "EXPIRE_MAKER",
    }  # fmt: skip


@dataclass
class UsdmUserStream:
    """One connection to a USD-M listen key's stream."""

    venue: BinanceUsdm
    listen_key: str

    def answer(self, message: Json) -> list[Json]:
        return []  # the listen key's stream takes no requests that matter here

    def book_events(self, symbol: str, before: Book, after: Book) -> list[Json]:
        return []

    def events(self, order: Order) -> list[Json]:
        if self.listen_key not in self.venue.listen_keys:
            return []
        now = now_ms()
        found: list[Json] = []
        if order.extra.get("algo"):
            found.append(
                {"e": "ALGO_UPDATE", "T": now, "E": now, "o": algo_update(self.venue, order)}
            )
        if self.venue.in_book(order):
            found.append({"e": "ORDER_TRADE_UPDATE", "E": now, "T": now,
                          "o": order_trade_update(self.venue, order)})  # fmt: skip
        return found


def algo_update(venue: BinanceUsdm, order: Order) -> dict[str, Any]:
    shown = venue.algo(order)
    return {
        "caid": order.client_id, "aid": int(order.id), "at": "CONDITIONAL",
        "o": shown["orderType"], "s": order.symbol, "S": shown["side"], "ps": "BOTH",
        "f": shown["timeInForce"], "q": shown["quantity"], "X": shown["algoStatus"],
        "ai": shown["actualOrderId"], "ap": _text(order.average or 0),
        "aq": _text(order.filled), "act": "MARKET" if order.triggered else "0",
        "tp": shown["triggerPrice"], "p": shown["price"], "V": "EXPIRE_MAKER",
        "wt": "CONTRACT_PRICE", "pm": "NONE", "cp": False, "pP": False,
        "R": order.reduce_only, "tt": order.extra.get("triggered_ms", 0), "gtd": 0, "rm": "",
    }  # fmt: skip


def order_trade_update(venue: BinanceUsdm, order: Order) -> dict[str, Any]:
    shown = venue.shown(order)
    execution, _ = _execution(order)
    last = next((t for t in reversed(venue.trades) if t.order_id == order.id), None)
    traded = execution == "TRADE" and last is not None
    return {
        "s": order.symbol, "c": shown["clientOrderId"], "S": shown["side"], "o": shown["type"],
        "f": shown["timeInForce"], "q": shown["origQty"], "p": shown["price"],
        "ap": shown["avgPrice"], "sp": shown["stopPrice"], "x": execution,
        "X": shown["status"], "i": shown["orderId"],
        "l": _text(last.amount) if traded and last else "0", "z": shown["executedQty"],
        "L": _text(last.price) if traded and last else "0", "N": "USDT",
        "n": _text(last.fee) if traded and last else "0", "T": order.updated_ms,
        "t": int(last.id) if traded and last else 0, "b": "0", "a": "0",
        "m": bool(last.maker) if traded and last else False, "R": order.reduce_only,
        "wt": "CONTRACT_PRICE", "ot": shown["origType"], "ps": "BOTH", "cp": False,
        "rp": "0", "pP": False, "si": 0, "ss": 0, "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0,
    }  # fmt: skip
