"""Binance spot (`/api/v3`, ccxt `binance`) on the shared engine, and what the USD-M dialect
(tests/venues/binance_usdm.py, ccxt `binanceusdm`) shares with it: the signed-request check,
the error envelope and the client order id rule.

Read from:
- Binance spot REST docs (developers.binance.com/docs/binance-spot-api-docs): "Request security"
  (HMAC SHA256 of the query string or the form body, `X-MBX-APIKEY`, `timestamp` within
  `recvWindow`), "Error codes" (-1003 too many requests, -1021 timestamp, -1022 signature, -1100
  illegal characters, -1121 invalid symbol, -2010 new order rejected, -2011 unknown order, -2013
  order does not exist, -2014/-2015 API key), "Filters" (PRICE_FILTER, LOT_SIZE, NOTIONAL: -1013
  "Filter failure: ..."), "New order": `newClientOrderId` "A unique id among open orders",
  `^[\\.A-Z\\:/a-z0-9_-]{1,36}$`, STOP_LOSS / TAKE_PROFIT (market once triggered) and their
  _LIMIT kinds, `newOrderRespType=FULL` with `fills`; "Query order" by `origClientOrderId`.
- ccxt 4.5.90 `binance.py`: `sign` (what is signed, where it goes), `create_order_request`
  (a spot stop-loss is STOP_LOSS with `stopPrice`), `handle_errors` and its `exceptions` table
  (which code raises which ccxt class), `parse_order`; ccxt's recorded answers
  (ts/src/test/static/response/binance.json: the spot createOrder and the swap createOrders
  entries, whose order fields these answers carry).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from tests.venues import core
from tests.venues.binance_market import MarketStream
from tests.venues.binance_streams import SpotUserStream
from tests.venues.core import (
    CANCELED,
    FILLED,
    LIMIT,
    MARKET,
    OPEN,
    REJECTED,
    STOP,
    STOP_LIMIT,
    TAKE_PROFIT,
    TAKE_PROFIT_LIMIT,
    Answer,
    FakeVenue,
    Json,
    MarketSpec,
    Order,
    Refusal,
    Request,
    VenueError,
    now_ms,
)
from tests.venues.streams import Listener

API_KEY = "fake-api-key"
API_SECRET = "fake-api-secret"
D = Decimal
CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
Handler = Callable[[dict[str, str]], Json]

BTCUSDT = MarketSpec(
    id="BTCUSDT", base="BTC", quote="USDT", tick=D("0.01"), step=D("0.00001"),
    min_amount=D("0.00001"), min_notional=D(5), bid=D("49990.00"), ask=D("50010.00"),
)  # fmt: skip
ETHUSDT = MarketSpec(
    id="ETHUSDT", base="ETH", quote="USDT", tick=D("0.01"), step=D("0.0001"),
    min_amount=D("0.0001"), min_notional=D(5), bid=D("2999.00"), ask=D("3001.00"),
)  # fmt: skip


def text(value: Decimal | None) -> str:
    """A number as Binance writes it: plain digits, never an exponent."""
    return "0" if value is None else format(value.normalize(), "f")


@dataclass
class BinanceDialect(FakeVenue):
    """What both Binance APIs share: signed requests, `{"code", "msg"}` errors, client ids."""

    ERRORS: ClassVar[dict[str, tuple[int, str]]] = {}
    BAD_CLIENT_ID: ClassVar[tuple[int, str]] = (0, "")
    ID_PARAMS: ClassVar[tuple[str, ...]] = ("newClientOrderId",)

    api_key: str = API_KEY
    secret: str = API_SECRET
    # GET /sapi/v1/account/apiRestrictions (api.binance.com, for spot and futures keys alike)
    restrictions: dict[str, bool] = field(
        default_factory=lambda: {"enableReading": True, "enableSpotAndMarginTrading": True,
                                 "enableFutures": True, "enableWithdrawals": False}
    )  # fmt: skip

    def routes(self) -> dict[tuple[str, str], tuple[bool, Handler]]:
        """(method, path) -> (signed, handler of the request's parameters)."""
        raise NotImplementedError

    def route(self, request: Request) -> Answer:
        if (request.method, request.path) == ("GET", "/sapi/v1/account/apiRestrictions"):
            self.verified(request)
            return 200, {"ipRestrict": False, "createTime": 1_700_000_000_000,
                         "enableInternalTransfer": False, "permitsUniversalTransfer": False,
                         "enableVanillaOptions": False, "enableMargin": False,
                         **self.restrictions}  # fmt: skip
        found = self.routes().get((request.method, request.path))
        if found is None:
            raise VenueError(404, f"<html><body>{request.path} not found</body></html>")
        signed, handler = found
        params = self.verified(request) if signed else dict(parse_qsl(request.query))
        return 200, handler(params)

    def verified(self, request: Request) -> dict[str, str]:
        """The parameters of a signed request, checked as Binance checks them."""
        key = request.headers.get("x-mbx-apikey")
        if not key:
            raise self.error(401, -2014, "API-key format invalid.")
        if key != self.api_key:
            raise self.error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        payload = request.query if request.method in ("GET", "DELETE") else request.body
        signed, sep, signature = payload.rpartition("&signature=")
        if not sep:
            raise self.error(
                400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or"
                " malformed.",
            )  # fmt: skip
        expected = hmac.new(self.secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            raise self.error(400, -1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(signed, keep_blank_values=True))
        window = int(params.get("recvWindow", "5000"))
        if abs(now_ms() - int(params.get("timestamp", "0"))) > window:
            raise self.error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return params

    def duplicate_of(self, order: Order) -> bool:
        """Binance: "A unique id among open orders"."""
        return any(o.client_id == order.client_id and o.status == OPEN
                   for o in self.orders.values())  # fmt: skip

    @staticmethod
    def error(status: int, code: int, msg: str) -> VenueError:
        return VenueError(status, {"code": code, "msg": msg})

    def refused(self, refusal: Refusal) -> Answer:
        code, msg = self.ERRORS[refusal.reason]
        return 400, {"code": code, "msg": msg}

    def rate_limited(self) -> Answer:
        return 429, {"code": -1003, "msg": "Too many requests; current limit of IP is 6000"
                     " requests per minute. Please use the websocket for live updates to avoid"
                     " polling the API."}  # fmt: skip

    def client_id_of(self, request: Request) -> str | None:
        params = dict(parse_qsl(request.body))
        return next((params[key] for key in self.ID_PARAMS if key in params), None)

    # --- helpers of both dialects ------------------------------------------------------------

    def client_id(self, params: dict[str, str], key: str, generated: str) -> str:
        """The request's client id, checked against Binance's rule, else one of Binance's."""
        found = params.get(key)
        if found is None:
            return f"{generated}{self.next_id()}"
        if not CLIENT_ID.match(found):
            raise self.error(400, *self.BAD_CLIENT_ID)
        return found

    def decimal(self, params: dict[str, str], key: str) -> Decimal | None:
        raw = params.get(key)
        if raw is None:
            return None
        try:
            value = Decimal(raw)
        except ArithmeticError:
            value = Decimal("NaN")
        if not value.is_finite():
            raise self.error(400, -1102, f"Mandatory parameter '{key}' was not sent, was"
                             " empty/null, or malformed.")  # fmt: skip
        return value

    def required(self, params: dict[str, str], key: str) -> Decimal:
        value = self.decimal(params, key)
        if value is None:
            raise self.error(400, -1102, f"Mandatory parameter '{key}' was not sent, was"
                             " empty/null, or malformed.")  # fmt: skip
        return value

    def find(self, params: dict[str, str], id_key: str, client_key: str) -> Order:
        """The order of the request's symbol by venue id or client id (the newest with it)."""
        symbol = self.spec(params.get("symbol", "")).id
        found = [
            o
            for o in self.orders.values()
            if o.symbol == symbol
            and (params.get(id_key) in self.ids_of(o) or params.get(client_key) == o.client_id)
        ]
        if not found:
            raise Refusal("not_found", str(params))
        return found[-1]

    def ids_of(self, order: Order) -> tuple[str, ...]:
        """The ids the venue answers to for `order`."""
        return (order.id,)

    def trades_of(self, params: dict[str, str]) -> list[core.Trade]:
        symbol = self.spec(params.get("symbol", "")).id
        since = int(params.get("startTime", "0"))
        return [t for t in self.trades if t.symbol == symbol and t.at_ms >= since]


SPOT_TYPES = {
    "MARKET": MARKET, "LIMIT": LIMIT, "LIMIT_MAKER": LIMIT, "STOP_LOSS": STOP,
    "TAKE_PROFIT": TAKE_PROFIT, "STOP_LOSS_LIMIT": STOP_LIMIT,
    "TAKE_PROFIT_LIMIT": TAKE_PROFIT_LIMIT,
}  # fmt: skip


@dataclass
class BinanceSpot(BinanceDialect):
    """Binance spot: `/api/v3`. A market order fills at the book; STOP_LOSS / TAKE_PROFIT rest
    until the last price crosses their `stopPrice` and then fill at market, in the same order
    (same `orderId`, NEW -> FILLED)."""

    OPS: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        "create": (("POST", "/api/v3/order"),),
        "fetch": (("GET", "/api/v3/order"),),
        "cancel": (("DELETE", "/api/v3/order"),),
        "open_orders": (("GET", "/api/v3/openOrders"),),
    }
    ERRORS: ClassVar[dict[str, tuple[int, str]]] = {
        "symbol": (-1121, "Invalid symbol."),
        "amount_step": (-1013, "Filter failure: LOT_SIZE"),
        "min_amount": (-1013, "Filter failure: LOT_SIZE"),
        "price_step": (-1013, "Filter failure: PRICE_FILTER"),
        "min_notional": (-1013, "Filter failure: NOTIONAL"),
        "funds": (-2010, "Account has insufficient balance for requested action."),
        "duplicate": (-2010, "Duplicate order sent."),
        "would_trigger": (-2010, "Stop price would trigger immediately."),
        # spot has no reduceOnly: an unknown parameter
        "reduce_only": (
            -1104,
            "Not all sent parameters were read; read 10 parameter(s) but was sent 11.",
        ),
        "not_found": (-2013, "Order does not exist."),
        "not_open": (-2011, "Unknown order sent."),
    }
    BAD_CLIENT_ID: ClassVar[tuple[int, str]] = (
        -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is"
        " '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
    )  # fmt: skip

    def routes(self) -> dict[tuple[str, str], tuple[bool, Handler]]:
        return {
            ("GET", "/api/v3/ping"): (False, lambda _: {}),
            ("GET", "/api/v3/time"): (False, lambda _: {"serverTime": now_ms()}),
            ("GET", "/api/v3/exchangeInfo"): (False, self._exchange_info),
            ("GET", "/api/v3/depth"): (False, self._depth),
            ("GET", "/api/v3/ticker/24hr"): (False, self._ticker),
            ("GET", "/api/v3/account"): (True, self._account),
            ("POST", "/api/v3/order"): (True, self._create),
            ("GET", "/api/v3/order"): (True, self._fetch),
            ("DELETE", "/api/v3/order"): (True, self._cancel),
            ("GET", "/api/v3/openOrders"): (True, self._open_orders),
            ("GET", "/api/v3/myTrades"): (True, self._my_trades),
        }

    # --- public --------------------------------------------------------------------------------

    def _exchange_info(self, _: dict[str, str]) -> Json:
        symbols = [
            {
                "symbol": spec.id, "status": "TRADING", "baseAsset": spec.base,
                "baseAssetPrecision": 8, "quoteAsset": spec.quote, "quotePrecision": 8,
                "quoteAssetPrecision": 8, "orderTypes": list(SPOT_TYPES),
                "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True,
                "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": text(spec.tick),
                     "maxPrice": "1000000.00", "tickSize": text(spec.tick)},
                    {"filterType": "LOT_SIZE", "minQty": text(spec.min_amount),
                     "maxQty": "9000.00000000", "stepSize": text(spec.step)},
                    {"filterType": "NOTIONAL", "minNotional": text(spec.min_notional),
                     "applyMinToMarket": True, "maxNotional": "9000000.00",
                     "applyMaxToMarket": False, "avgPriceMins": 5},
                ],
                "permissions": [], "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"],
            }
            for spec in self.specs
        ]  # fmt: skip
        return {"timezone": "UTC", "serverTime": now_ms(), "rateLimits": [],
                "exchangeFilters": [], "symbols": symbols}  # fmt: skip

    def _depth(self, params: dict[str, str]) -> Json:
        spec = self.spec(params.get("symbol", ""))
        with self.lock:
            book, update_id = self.books[spec.id], self.book_ids[spec.id]
        bids, asks = self.depth_levels(spec.id, book)
        return {"lastUpdateId": update_id, "bids": bids, "asks": asks}

    def depth_levels(self, symbol: str, book: core.Book) -> tuple[list[list[str]], ...]:
        """The five levels a side the book (best bid, best ask) shows: REST and the streams."""
        (bid, ask), tick = book, self.markets[symbol].tick
        return ([[text(bid - i * 10 * tick), "1.00000"] for i in range(5)],
                [[text(ask + i * 10 * tick), "1.00000"] for i in range(5)])  # fmt: skip

    def _ticker(self, params: dict[str, str]) -> Json:
        spec = self.spec(params.get("symbol", ""))
        with self.lock:
            (bid, ask), last = self.books[spec.id], self.last[spec.id]
        now = now_ms()
        return {
            "symbol": spec.id, "priceChange": "0", "priceChangePercent": "0",
            "weightedAvgPrice": text(last), "prevClosePrice": text(last),
            "lastPrice": text(last), "lastQty": "0.1", "bidPrice": text(bid),
            "bidQty": "1.00000", "askPrice": text(ask), "askQty": "1.00000",
            "openPrice": text(last), "highPrice": text(ask), "lowPrice": text(bid),
            "volume": "123.45000", "quoteVolume": "6172500.00", "openTime": now - 86_400_000,
            "closeTime": now, "firstId": 1, "lastId": 100, "count": 100,
        }  # fmt: skip

    # --- signed --------------------------------------------------------------------------------

    def _account(self, _: dict[str, str]) -> Json:
        with self.lock:
            rows = [{"asset": asset, "free": text(free), "locked": text(locked)}
                    for asset, (free, locked) in self.balances.items()]  # fmt: skip
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
            "sellerCommission": 0, "canTrade": True, "canWithdraw": True, "canDeposit": True,
            "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": now_ms(), "accountType": "SPOT", "balances": rows,
            "permissions": ["SPOT"], "uid": 354937868,
        }  # fmt: skip

    def _create(self, params: dict[str, str]) -> Json:
        spec = self.spec(params.get("symbol", ""))
        kind = SPOT_TYPES.get(params.get("type", ""))
        side = params.get("side", "")
        if kind is None or side not in ("BUY", "SELL"):
            raise self.error(400, -1116, "Invalid orderType.")
        if "reduceOnly" in params:
            raise Refusal("reduce_only", "spot")
        amount = self.required(params, "quantity")
        limit = kind in (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT)
        price = self.required(params, "price") if limit else None
        trigger = self.required(params, "stopPrice") if kind in core.CONDITIONAL else None
        with self.lock:
            cid = self.client_id(params, "newClientOrderId", "x-TKT5PX2F")
            extra = {"type": params["type"], "tif": params.get("timeInForce")}
            order = Order(self.next_id(), cid, spec.id, side.lower(), kind, amount, price, trigger,
                          extra=extra)  # fmt: skip
            self.place(order)
            trades = [t for t in self.trades if t.order_id == order.id]
            answer = self.shown(order)
        answer.pop("isWorking")
        answer.update(transactTime=order.created_ms, fills=[
            {"price": text(t.price), "qty": text(t.amount), "commission": text(t.fee),
             "commissionAsset": spec.quote, "tradeId": int(t.id)} for t in trades
        ])  # fmt: skip
        return answer

    def _fetch(self, params: dict[str, str]) -> Json:
        with self.lock:
            return self.shown(self.find(params, "orderId", "origClientOrderId"))

    def _cancel(self, params: dict[str, str]) -> Json:
        with self.lock:
            try:
                order = self.find(params, "orderId", "origClientOrderId")
            except Refusal:
                raise Refusal("not_open", str(params)) from None
            self.cancel(order)
            answer = self.shown(order)
        answer["origClientOrderId"] = answer["clientOrderId"]
        return answer

    def _open_orders(self, params: dict[str, str]) -> Json:
        symbol = params.get("symbol")
        if symbol is not None:
            self.spec(symbol)
        with self.lock:
            return [self.shown(o) for o in self.orders.values()
                    if o.status == OPEN and symbol in (None, o.symbol)]  # fmt: skip

    def _my_trades(self, params: dict[str, str]) -> Json:
        with self.lock:
            return [
                {"symbol": t.symbol, "id": int(t.id), "orderId": int(t.order_id),
                 "orderListId": -1, "price": text(t.price), "qty": text(t.amount),
                 "quoteQty": text(t.price * t.amount), "commission": text(t.fee),
                 "commissionAsset": self.markets[t.symbol].quote, "time": t.at_ms,
                 "isBuyer": t.side == "buy", "isMaker": t.maker, "isBestMatch": True}
                for t in self.trades_of(params)
            ]  # fmt: skip

    def shown(self, order: Order) -> dict[str, Any]:
        """An order as Binance spot shows it (GET /api/v3/order)."""
        status = {OPEN: "PARTIALLY_FILLED" if order.filled else "NEW", FILLED: "FILLED",
                  REJECTED: "REJECTED"}.get(order.status, "CANCELED")  # fmt: skip
        if order.status == CANCELED and expired(order):
            status = "EXPIRED"
        working = not order.conditional or order.triggered
        return {
            "symbol": order.symbol, "orderId": int(order.id), "orderListId": -1,
            "clientOrderId": order.client_id, "price": text(order.price or D(0)),
            "origQty": text(order.amount), "executedQty": text(order.filled),
            "cummulativeQuoteQty": text(order.cost), "status": status,
            "timeInForce": order.extra.get("tif") or "GTC", "type": order.extra["type"],
            "side": order.side.upper(), "stopPrice": text(order.trigger or D(0)),
            "icebergQty": "0", "time": order.created_ms, "updateTime": order.updated_ms,
            "isWorking": working,
            "workingTime": (order.extra.get("triggered_ms") or order.created_ms)
            if working else -1,
            "origQuoteOrderQty": "0", "selfTradePreventionMode": "EXPIRE_MAKER",
        }  # fmt: skip

    def stream_opened(self, path: str, query: dict[str, str]) -> Listener | None:
        """The WebSocket API (tests/venues/binance_streams.py): the user data stream once
        subscribed with a signature; `/ws/N`: the market streams a client SUBSCRIBEs to
        (tests/venues/binance_market.py)."""
        if path.startswith("/ws/"):
            return MarketStream(self, futures=False)
        return SpotUserStream(self) if path == "/ws-api/v3" else None


def expired(order: Order) -> bool:
    """A canceled order the venue ended itself: the rest of a market order (or of a triggered
    stop) that found no liquidity."""
    return order.kind == MARKET or (order.kind in (STOP, TAKE_PROFIT) and order.triggered)


def spot(**balances: str) -> BinanceSpot:
    """A spot account holding `balances` (default 10,000 USDT), BTCUSDT and ETHUSDT listed."""
    held = balances or {"USDT": "10000"}
    return BinanceSpot(
        specs=[BTCUSDT, ETHUSDT],
        balances={asset: [D(amount), D(0)] for asset, amount in held.items()},
    )
