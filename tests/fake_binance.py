"""A local fake of Binance's SPOT REST API, good enough for unmodified ccxt `binance`.

It keeps orders, balances and trades in memory, fills market orders at once against the book,
verifies the HMAC signature of signed endpoints and answers errors in Binance's JSON dialect.
The book starts at `SYMBOLS`' bid and ask; tests move it with `set_price`. Resting orders rest
like Binance's: a LIMIT fills once the book crosses its price, a STOP_LOSS / TAKE_PROFIT (what
ccxt sends for a spot order with `triggerPrice` / `takeProfitPrice`) triggers when the last
price crosses its `stopPrice` and then fills as a market order (the *_LIMIT kinds turn into a
resting limit). Tests inject faults: the next N requests to a path answer 429 or 503, hang past
the client's timeout, or (for `POST /api/v3/order`) create the order and then never answer, or
answer only `hang_seconds` later (`slow`: a venue that stalls); and `before_next` runs a test's
action just before the venue handles a request (a race; `client` tells the action who sent it).
`creates` lists the client order id of every create received.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_KEY = "fake-api-key"
API_SECRET = "fake-api-secret"

Json = dict[str, Any] | list[Any]
Answer = tuple[int, Json | str]

SYMBOLS: dict[str, dict[str, str]] = {
    "BTCUSDT": {
        "base": "BTC",
        "quote": "USDT",
        "tick": "0.01",
        "step": "0.00001",
        "min_qty": "0.00001",
        "min_notional": "5",
        "bid": "49990.00",
        "ask": "50010.00",
    },
    "ETHUSDT": {
        "base": "ETH",
        "quote": "USDT",
        "tick": "0.01",
        "step": "0.0001",
        "min_qty": "0.0001",
        "min_notional": "5",
        "bid": "2999.00",
        "ask": "3001.00",
    },
    "SOLUSDT": {
        "base": "SOL",
        "quote": "USDT",
        "tick": "0.01",
        "step": "0.001",
        "min_qty": "0.001",
        "min_notional": "5",
        "bid": "149.99",
        "ask": "150.01",
    },
}

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
               "TAKE_PROFIT_LIMIT"]  # fmt: skip
OPEN_STATES = ("NEW", "PARTIALLY_FILLED")
TRIGGERED = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


class BinanceError(Exception):
    def __init__(self, http_status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.http_status = http_status
        self.code = code
        self.msg = msg


@dataclass
class Fault:
    """Applies to the next `count` requests matching `method` and `path`."""

    method: str
    path: str
    kind: str  # "429" | "503" | "hang" | "create_then_hang" | "slow"
    count: int


@dataclass
class Hook:
    """Runs `action` once, just before the venue handles the next `method` `path` request."""

    method: str
    path: str
    action: Callable[[], None]


@dataclass
class FakeBinance:
    """The venue's state; the HTTP handler calls `handle`."""

    api_key: str = API_KEY
    secret: str = API_SECRET
    hang_seconds: float = 2.0
    balances: dict[str, list[Decimal]] = field(
        default_factory=lambda: {
            "USDT": [Decimal(10000), Decimal(0)],
            "BTC": [Decimal("0.5"), Decimal(0)],
            "ETH": [Decimal(2), Decimal(0)],
        }
    )
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    trades: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    creates: list[str] = field(default_factory=list)  # the client id of every create received
    faults: list[Fault] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    last_prices: dict[str, str] = field(default_factory=dict)  # ticker's last; default: mid
    books: dict[str, tuple[Decimal, Decimal]] = field(
        default_factory=lambda: {
            symbol: (Decimal(spec["bid"]), Decimal(spec["ask"])) for symbol, spec in SYMBOLS.items()
        }
    )  # best bid and ask per symbol
    # GET /sapi/v1/account/apiRestrictions: what the API key may do
    restrictions: dict[str, bool] = field(
        default_factory=lambda: {"enableReading": True, "enableSpotAndMarginTrading": True,
                                 "enableFutures": True, "enableWithdrawals": False}
    )  # fmt: skip
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    _request: threading.local = field(default_factory=threading.local)  # the one being handled

    # --- test controls ---------------------------------------------------------------------

    def fail_next(self, method: str, path: str, kind: str, count: int = 1) -> None:
        with self._lock:
            self.faults.append(Fault(method, path, kind, count))

    def drop_current(self) -> None:
        """For a hook: the request it runs before never reaches the API (a 503 from the edge),
        whatever other requests are handled meanwhile."""
        self._request.dropped = True

    def before_next(self, method: str, path: str, action: Callable[[], None]) -> None:
        """Run `action` just before the next `method` `path` request is handled."""
        with self._lock:
            self.hooks.append(Hook(method, path, action))

    def set_price(
        self, symbol: str, bid: Decimal, ask: Decimal, last: Decimal | None = None
    ) -> None:
        """Move the book (and the last price, default the mid); resting orders it reaches fill."""
        with self._lock:
            self.books[symbol] = (bid, ask)
            self.last_prices[symbol] = str(last if last is not None else (bid + ask) / 2)
            self._match_resting(symbol)

    def orders_with_client_id(self, client_order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [o for o in self.orders.values() if o["clientOrderId"] == client_order_id]

    def order_book(self) -> list[dict[str, Any]]:
        """Every order the venue holds (open or not), oldest first, as Binance shows them."""
        with self._lock:
            return [_public(o) for _, o in sorted(self.orders.items())]

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return sum(1 for m, p in self.requests if (m, p) == (method, path))

    def release_hung(self) -> None:
        self._release.set()

    def client(self) -> tuple[str, int] | None:
        """The address of the client whose request this thread handles (for a hook: who sent
        it)."""
        found: tuple[str, int] | None = getattr(self._request, "client", None)
        return found

    def creating(self) -> str | None:
        """The client order id of the create this thread handles (for a hook)."""
        found: str | None = getattr(self._request, "creating", None)
        return found

    # --- dispatch ----------------------------------------------------------------------------

    def _take_hook(self, method: str, path: str) -> Hook | None:
        with self._lock:
            for hook in self.hooks:
                if (hook.method, hook.path) == (method, path):
                    self.hooks.remove(hook)
                    return hook
        return None

    def _take_fault(self, method: str, path: str) -> str | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.path == path and fault.count > 0:
                    fault.count -= 1
                    return fault.kind
        return None

    def handle(
        self,
        method: str,
        raw_path: str,
        headers: dict[str, str],
        body: str,
        client: tuple[str, int] | None = None,
    ) -> Answer | None:
        """The status and JSON (or text) to answer, or None to answer nothing at all."""
        self._request.client = client
        self._request.creating = None
        split = urlsplit(raw_path)
        path, query = split.path, split.query
        with self._lock:
            self.requests.append((method, path))
            if (method, path) == ("POST", "/api/v3/order"):
                self._request.creating = dict(parse_qsl(body)).get("newClientOrderId", "")
                self.creates.append(self._request.creating)
        self._request.dropped = False
        if (hook := self._take_hook(method, path)) is not None:
            hook.action()
        if self._request.dropped:  # lost on its way: the venue's edge answers, no API code runs
            return 503, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
        fault = self._take_fault(method, path)
        if fault == "429":
            return 429, {"code": -1003, "msg": "Too many requests; please use the websocket."}
        if fault == "503":  # from the venue's edge, before any API code: not JSON
            return 503, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
        if fault == "hang":
            self._release.wait(self.hang_seconds)
            return None
        try:
            route = self._routes().get((method, path))
            if route is None:
                raise BinanceError(404, -1000, f"Unknown endpoint {method} {path}.")
            signed, action = route
            params = dict(parse_qsl(query, keep_blank_values=True))
            if signed:
                params = self._verify(headers, query if method in {"GET", "DELETE"} else body)
            result = action(params)
        except BinanceError as error:
            return error.http_status, {"code": error.code, "msg": error.msg}
        if fault == "create_then_hang":
            self._release.wait(self.hang_seconds)
            return None
        if fault == "slow":  # done at once, answered late (or once released)
            self._release.wait(self.hang_seconds)
        return 200, result

    def _routes(self) -> dict[tuple[str, str], tuple[bool, Callable[[dict[str, str]], Json]]]:
        return {
            ("GET", "/api/v3/ping"): (False, lambda _: {}),
            ("GET", "/api/v3/time"): (False, lambda _: {"serverTime": _now_ms()}),
            ("GET", "/api/v3/exchangeInfo"): (False, self._exchange_info),
            ("GET", "/api/v3/depth"): (False, self._depth),
            ("GET", "/api/v3/ticker/24hr"): (False, self._ticker_24hr),
            ("GET", "/api/v3/account"): (True, self._account),
            ("POST", "/api/v3/order"): (True, self._create),
            ("GET", "/api/v3/order"): (True, self._fetch),
            ("DELETE", "/api/v3/order"): (True, self._cancel),
            ("GET", "/api/v3/openOrders"): (True, self._open_orders),
            ("GET", "/api/v3/myTrades"): (True, self._my_trades),
            ("GET", "/sapi/v1/account/apiRestrictions"): (True, self._api_restrictions),
        }

    def _api_restrictions(self, _: dict[str, str]) -> Json:
        return {"ipRestrict": False, "createTime": 1_700_000_000_000, "enableInternalTransfer":
                False, "permitsUniversalTransfer": False, "enableVanillaOptions": False,
                "enableMargin": False, **self.restrictions}  # fmt: skip

    def _verify(self, headers: dict[str, str], payload: str) -> dict[str, str]:
        if headers.get("x-mbx-apikey") != self.api_key:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signed, sep, signature = payload.rpartition("&signature=")
        expected = hmac.new(self.secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        if not sep or not hmac.compare_digest(signature, expected):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(signed, keep_blank_values=True))
        window = int(params.get("recvWindow", "5000"))
        if abs(_now_ms() - int(params.get("timestamp", "0"))) > window:
            raise BinanceError(
                400, -1021, "Timestamp for this request is outside of the recvWindow."
            )
        return params

    # --- public --------------------------------------------------------------------------

    def _exchange_info(self, _: dict[str, str]) -> Json:
        symbols = []
        for symbol, spec in SYMBOLS.items():
            symbols.append(
                {
                    "symbol": symbol,
                    "status": "TRADING",
                    "baseAsset": spec["base"],
                    "baseAssetPrecision": 8,
                    "quoteAsset": spec["quote"],
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "orderTypes": ORDER_TYPES,
                    "icebergAllowed": True,
                    "ocoAllowed": True,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": spec["tick"],
                            "maxPrice": "1000000.00",
                            "tickSize": spec["tick"],
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": spec["min_qty"],
                            "maxQty": "9000.00000000",
                            "stepSize": spec["step"],
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": spec["min_notional"],
                            "applyMinToMarket": True,
                            "maxNotional": "9000000.00",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                    ],
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                    "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": _now_ms(),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def _spec(self, params: dict[str, str]) -> dict[str, str]:
        spec = SYMBOLS.get(params.get("symbol", ""))
        if spec is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return spec

    def _depth(self, params: dict[str, str]) -> Json:
        spec = self._spec(params)
        tick = Decimal(spec["tick"])
        with self._lock:
            bid, ask = self.books[params["symbol"]]
        bids = [[str(bid - i * 10 * tick), "1.00000"] for i in range(5)]
        asks = [[str(ask + i * 10 * tick), "1.00000"] for i in range(5)]
        return {"lastUpdateId": 1, "bids": bids, "asks": asks}

    def _ticker_24hr(self, params: dict[str, str]) -> Json:
        self._spec(params)
        with self._lock:
            bid, ask = self.books[params["symbol"]]
            last = self.last_prices.get(params["symbol"]) or str((bid + ask) / 2)
        now = _now_ms()
        return {
            "symbol": params["symbol"],
            "priceChange": "0",
            "priceChangePercent": "0",
            "weightedAvgPrice": last,
            "prevClosePrice": last,
            "lastPrice": last,
            "lastQty": "0.1",
            "bidPrice": str(bid),
            "bidQty": "1.00000",
            "askPrice": str(ask),
            "askQty": "1.00000",
            "openPrice": last,
            "highPrice": str(ask),
            "lowPrice": str(bid),
            "volume": "123.45000",
            "quoteVolume": "6172500.00",
            "openTime": now - 86_400_000,
            "closeTime": now,
            "firstId": 1,
            "lastId": 100,
            "count": 100,
        }

    # --- signed --------------------------------------------------------------------------

    def _account(self, _: dict[str, str]) -> Json:
        with self._lock:
            rows = [
                {"asset": asset, "free": str(free), "locked": str(locked)}
                for asset, (free, locked) in self.balances.items()
            ]
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "updateTime": _now_ms(),
            "accountType": "SPOT",
            "balances": rows,
            "permissions": ["SPOT"],
        }

    def _create(self, params: dict[str, str]) -> Json:
        spec = self._spec(params)
        symbol = params["symbol"]
        side, kind = params.get("side", ""), params.get("type", "")
        if kind not in ORDER_TYPES:
            raise BinanceError(400, -1116, "Invalid orderType.")
        qty = Decimal(params.get("quantity", "0"))
        if qty < Decimal(spec["min_qty"]) or qty % Decimal(spec["step"]) != 0:
            raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")
        stop = _stop_price(kind, params)
        price = Decimal(params["price"]) if "price" in params else None
        client_id = params.get("newClientOrderId") or f"x-fake{next(self._ids)}"
        with self._lock:
            bid, ask = self.books[symbol]
            fill_price = ask if side == "BUY" else bid
            if qty * (price or fill_price) < Decimal(spec["min_notional"]):
                raise BinanceError(400, -1013, "Filter failure: NOTIONAL")
            if stop is not None and self._triggers(symbol, kind, side, stop):
                raise BinanceError(400, -2010, "Stop price would trigger immediately.")
            fills_now = kind == "MARKET" or (
                kind == "LIMIT" and price is not None and _marketable(side, price, fill_price)
            )
            # like Binance, only an open order's client id is refused; a filled one may be reused
            if any(
                o["clientOrderId"] == client_id and o["status"] in OPEN_STATES
                for o in self.orders.values()
            ):
                raise BinanceError(400, -2010, "Duplicate order sent.")
            # what the order spends (BUY: quote, SELL: base), locked if it rests
            spend_asset = spec["quote"] if side == "BUY" else spec["base"]
            spend = qty * (fill_price if fills_now or price is None else price)
            spend = spend if side == "BUY" else qty
            free, locked = self.balances.setdefault(spend_asset, [Decimal(0), Decimal(0)])
            if spend > free:
                raise BinanceError(
                    400, -2010, "Account has insufficient balance for requested action."
                )
            now = _now_ms()
            order_id = next(self._ids)
            order: dict[str, Any] = {
                "symbol": symbol,
                "orderId": order_id,
                "orderListId": -1,
                "clientOrderId": client_id,
                "price": str(price or Decimal(0)),
                "origQty": str(qty),
                "executedQty": "0",
                "cummulativeQuoteQty": "0",
                "status": "NEW",
                "timeInForce": params.get("timeInForce", "GTC"),
                "type": kind,
                "side": side,
                "stopPrice": str(stop) if stop is not None else "0",
                "time": now,
                "updateTime": now,
                "isWorking": stop is None,  # a stop order works once triggered
                "workingTime": now if stop is None else -1,
                "origQuoteOrderQty": "0",
                "selfTradePreventionMode": "EXPIRE_MAKER",
            }
            fills: list[dict[str, Any]] = []
            if fills_now:
                trade = self._fill(order, fill_price, maker=False)
                fills = [
                    {
                        "price": trade["price"],
                        "qty": trade["qty"],
                        "commission": trade["commission"],
                        "commissionAsset": trade["commissionAsset"],
                        "tradeId": trade["id"],
                    }
                ]
            else:
                self.balances[spend_asset] = [free - spend, locked + spend]
                order["_locked"] = (spend_asset, spend)
            self.orders[order_id] = order
            answer = _public(order)
        answer["transactTime"] = now
        answer["fills"] = fills
        return answer

    def _triggers(self, symbol: str, kind: str, side: str, stop: Decimal) -> bool:
        """Whether the last price has reached a stop order's `stopPrice` (lock held)."""
        bid, ask = self.books[symbol]
        last = Decimal(self.last_prices.get(symbol) or (bid + ask) / 2)
        rising = (kind.startswith("TAKE_PROFIT")) == (side == "SELL")
        return last >= stop if rising else last <= stop

    def _match_resting(self, symbol: str) -> None:
        """Fill what the book now reaches: limits at their price, triggered stops at market."""
        bid, ask = self.books[symbol]
        for order in list(self.orders.values()):
            if order["symbol"] != symbol or order["status"] not in OPEN_STATES:
                continue
            kind, side = order["type"], order["side"]
            market = ask if side == "BUY" else bid
            just_triggered = False
            if kind in TRIGGERED and not order["isWorking"]:
                if not self._triggers(symbol, kind, side, Decimal(order["stopPrice"])):
                    continue
                just_triggered = True
                order.update(isWorking=True, workingTime=_now_ms())
            if kind in ("STOP_LOSS", "TAKE_PROFIT"):
                self._fill(order, market, maker=False)
            elif _marketable(side, Decimal(order["price"]), market):
                at = market if just_triggered else Decimal(order["price"])
                self._fill(order, at, maker=not just_triggered)

    def _fill(self, order: dict[str, Any], price: Decimal, *, maker: bool) -> dict[str, Any]:
        """Fill the whole order at `price`, freeing what it locked (lock held)."""
        spec = SYMBOLS[order["symbol"]]
        base, quote = spec["base"], spec["quote"]
        qty = Decimal(order["origQty"])
        cost = qty * price
        buy = order["side"] == "BUY"
        if "_locked" in order:
            asset, amount = order.pop("_locked")
            free, locked = self.balances[asset]
            self.balances[asset] = [free + amount, locked - amount]
        self._move(quote, -cost if buy else cost)
        self._move(base, qty if buy else -qty)
        now = _now_ms()
        order.update(
            status="FILLED", executedQty=str(qty), cummulativeQuoteQty=str(cost), updateTime=now
        )
        trade = {
            "symbol": order["symbol"],
            "id": next(self._ids),
            "orderId": order["orderId"],
            "orderListId": -1,
            "price": str(price),
            "qty": str(qty),
            "quoteQty": str(cost),
            "commission": "0",
            "commissionAsset": base,
            "time": now,
            "isBuyer": buy,
            "isMaker": maker,
            "isBestMatch": True,
        }
        self.trades.append(trade)
        return trade

    def _move(self, asset: str, delta: Decimal) -> None:
        free, locked = self.balances.setdefault(asset, [Decimal(0), Decimal(0)])
        self.balances[asset] = [free + delta, locked]

    def _find(self, params: dict[str, str]) -> dict[str, Any]:
        self._spec(params)
        return find_order(self.orders.values(), params)

    def _fetch(self, params: dict[str, str]) -> Json:
        with self._lock:
            return _public(self._find(params))

    def _cancel(self, params: dict[str, str]) -> Json:
        with self._lock:
            try:
                order = self._find(params)
            except BinanceError:
                raise BinanceError(400, -2011, "Unknown order sent.") from None
            if order["status"] not in OPEN_STATES:
                raise BinanceError(400, -2011, "Unknown order sent.")
            asset, amount = order.pop("_locked")
            free, locked = self.balances[asset]
            self.balances[asset] = [free + amount, locked - amount]
            order.update(status="CANCELED", updateTime=_now_ms())
            answer = _public(order)
        answer["origClientOrderId"] = answer["clientOrderId"]
        return answer

    def _open_orders(self, params: dict[str, str]) -> Json:
        with self._lock:
            return [
                _public(o)
                for o in self.orders.values()
                if o["status"] in OPEN_STATES
                and ("symbol" not in params or o["symbol"] == params["symbol"])
            ]

    def _my_trades(self, params: dict[str, str]) -> Json:
        self._spec(params)
        since = int(params.get("startTime", "0"))
        with self._lock:
            return [
                t for t in self.trades if t["symbol"] == params["symbol"] and t["time"] >= since
            ]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _marketable(side: str, limit: Decimal, market: Decimal) -> bool:
    return limit >= market if side == "BUY" else limit <= market


def _stop_price(kind: str, params: dict[str, str]) -> Decimal | None:
    """A stop order's `stopPrice` (Binance requires one), None for other kinds."""
    if kind not in TRIGGERED:
        return None
    try:
        stop = Decimal(params["stopPrice"])
    except (KeyError, ArithmeticError):
        stop = Decimal(0)
    if not stop.is_finite() or stop <= 0:
        raise BinanceError(
            400,
            -1102,
            "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.",
        )
    return stop


def find_order(orders: Iterable[dict[str, Any]], params: dict[str, str]) -> dict[str, Any]:
    """The order of the request's symbol by `orderId` or `origClientOrderId`, like Binance."""
    for order in orders:
        if order["symbol"] != params["symbol"]:
            continue
        if "orderId" in params and str(order["orderId"]) == params["orderId"]:
            return order
        if params.get("origClientOrderId") == order["clientOrderId"]:
            return order
    raise BinanceError(400, -2013, "Order does not exist.")


def _public(order: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in order.items() if not k.startswith("_")}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.server.venue.handle(
            self.command, self.path, headers, body, self.client_address[:2]
        )
        if answer is None:
            self.close_connection = True
            return
        status, payload = answer
        text = isinstance(payload, str)
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if text else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PUT = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close joins the handler threads
    block_on_close = True

    def __init__(self, venue: FakeBinance) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.venue = venue

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up on a hung request is expected; stay quiet."""


@dataclass
class RunningFake:
    venue: FakeBinance
    url: str  # http://127.0.0.1:PORT


class serve_fake_binance:  # noqa: N801 - used as a context manager, like `open`
    """Run a `FakeBinance` on a free port in a thread for the `with` block."""

    def __init__(self, venue: FakeBinance | None = None) -> None:
        self.venue = venue or FakeBinance()
        self._server = _Server(self.venue)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> RunningFake:
        self._thread.start()
        host, port = self._server.server_address[:2]
        return RunningFake(self.venue, f"http://{host!s}:{port}")

    def __exit__(self, *exc: object) -> None:
        self.venue.release_hung()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
