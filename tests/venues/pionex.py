"""Pionex's spot REST API as a local fake: its dialect on the shared engine (`core.FakeVenue`).

Read from Pionex's documentation, https://pionex-doc.gitbook.io/apidocs (the same text at
https://www.pionex.com/docs/api-docs/trade-api; its Chinese edition, github.com/jie0409/openapi,
says what the precision fields count):
- restful/general/basic and authentication: `timestamp` (ms) in the query of every private
  request, refused outside 20 s of the venue's clock (INVALID_TIMESTAMP); the headers
  PIONEX-KEY and PIONEX-SIGNATURE, the hex HMAC-SHA256 of METHOD + PATH + "?" + the sorted
  query + the JSON body of a POST or DELETE (the documented example, signed by the adapter's
  `signature`, is checked in tests/integration/test_venue_pionex.py); APIKEY_LOST,
  SIGNATURE_LOST, INVALID_APIKEY, INVALID_SIGNATURE;
- the envelope {"result", "data", "timestamp"} / {"result": false, "code", "message"}. The HTTP
  status of a refusal is not documented: this fake answers 400 (the adapter reads the
  envelope, whatever the status); 429 over the rate limit (restful/general/rate-limit);
- common/market-data: symbols with basePrecision (decimals of a size), quotePrecision (of a
  price), amountPrecision (of a market buy's amount), minAmount (least price x size or market
  buy amount), minTradeSize (least limit size), minTradeDumping (least market sell size),
  buyCeiling / sellFloor (a limit buy at most 1.1 x the best bid, a sell at least 0.9 x the
  best ask);
- orders/new-order: LIMIT (size, price) and MARKET orders, a market buy sized by `amount`
  (quote), a market sell by `size`; clientOrderId of letters, digits and hyphens, up to 64,
  TRADE_REPEAT_CLIENT_ORDER_ID for a reused one; TRADE_SIZE_FILTER_DENIED,
  TRADE_PRICE_FILTER_DENIED, TRADE_AMOUNT_FILTER_DENIED, TRADE_NOT_ENOUGH_MONEY,
  TRADE_INVALID_SYMBOL, TRADE_PARAMETER_ERROR. No stop, take-profit or conditional order
  exists in the API: `type` is LIMIT or MARKET;
- orders/get-order, get-order-by-client-order-id, cancel-order (DELETE with a JSON body, no
  data in the answer; TRADE_OPERATION_DENIED for an order no longer open), get-open-orders,
  get-all-orders, get-fills: the order's fields (orderId a number, status OPEN or CLOSED,
  size, amount, filledSize, filledAmount, fee, feeCoin, clientOrderId, createTime,
  updateTime), TRADE_ORDER_NOT_FOUND;
- account/get-balance: balances of coin, free, frozen; markets/get-depth: bids and asks.
ccxt has no Pionex, so no recorded requests and answers exist for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from app.adapters.pionex.exchange import PionexExchange
from app.adapters.retry import RetryPolicy
from app.ports.exchange import Exchange
from tests.venues import core
from tests.venues.core import D, FakeVenue, Json, MarketSpec, Order, Refusal, Request, VenueError
from tests.venues.http import Served
from tests.venues.road import TIMEOUT_SECONDS, Road

API_KEY = "pionex-test-key"
API_SECRET = "pionex-test-secret"
ORDER = "/api/v1/trade/order"
BY_CLIENT_ID = "/api/v1/trade/orderByClientOrderId"
OPEN_ORDERS = "/api/v1/trade/openOrders"
CLIENT_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")

# the engine's refusals as Pionex's codes and messages
ERRORS: dict[str, tuple[str, str]] = {
    "symbol": ("TRADE_INVALID_SYMBOL", "Invalid symbol"),
    "amount_step": ("TRADE_SIZE_FILTER_DENIED", "Invalid quantity"),
    "min_amount": ("TRADE_SIZE_FILTER_DENIED", "Invalid quantity"),
    "price_step": ("TRADE_PRICE_FILTER_DENIED", "Price too low or too high"),
    "min_notional": ("TRADE_AMOUNT_FILTER_DENIED", "Invalid amount or price * size"),
    "funds": ("TRADE_NOT_ENOUGH_MONEY", "Price amount higher than available balance"),
    "duplicate": ("TRADE_REPEAT_CLIENT_ORDER_ID", "Duplicated clientOrderId"),
    "not_found": ("TRADE_ORDER_NOT_FOUND", "Order not found"),
    "not_open": ("TRADE_OPERATION_DENIED", "Operation denied"),
    "parameter": ("TRADE_PARAMETER_ERROR", "Parameter error"),
}


def digits(step: Decimal) -> int:
    return -step.normalize().as_tuple().exponent  # type: ignore[operator]


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}"


@dataclass
class FakePionex(FakeVenue):
    OPS: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        "create": (("POST", ORDER),),
        "fetch": (("GET", ORDER), ("GET", BY_CLIENT_ID)),
        "cancel": (("DELETE", ORDER),),
        "open_orders": (("GET", OPEN_ORDERS),),
    }
    FEE_RATE: ClassVar[Decimal] = D("0.0005")

    window_ms: int = 20_000  # a timestamp further than this from the venue's clock is refused
    amount_digits: int = 8  # amountPrecision: decimals of a market buy's amount
    keys: dict[str, str] = field(default_factory=lambda: {API_KEY: API_SECRET})

    # --- the dialect ---------------------------------------------------------------------------

    def rate_limited(self) -> core.Answer:
        return 429, "Too Many Requests"

    def refused(self, refusal: Refusal) -> core.Answer:
        code, message = ERRORS.get(refusal.reason, ERRORS["parameter"])
        return self.error(code, message)

    def error(self, code: str, message: str, status: int = 400) -> core.Answer:
        return status, {"result": False, "code": code, "message": message,
                        "timestamp": core.now_ms()}  # fmt: skip

    def ok(self, data: Json | None = None) -> core.Answer:
        answer: dict[str, Any] = {"result": True, "timestamp": core.now_ms()}
        if data is not None:
            answer["data"] = data
        return 200, answer

    def client_id_of(self, request: Request) -> str | None:
        try:
            found = json.loads(request.body or "{}").get("clientOrderId")
        except ValueError:
            return None
        return str(found) if found else None

    def route(self, request: Request) -> core.Answer:
        method, path = request.method, request.path
        query = dict(parse_qsl(request.query, keep_blank_values=True))
        public = {
            ("GET", "/api/v1/common/symbols"): self._symbols,
            ("GET", "/api/v1/market/depth"): self._depth,
        }
        if (method, path) in public:
            return public[(method, path)](query)
        self._check_signature(request, query)
        params = {**query, **(json.loads(request.body) if request.body else {})}
        private = {
            ("POST", ORDER): self._create,
            ("GET", ORDER): self._order,
            ("GET", BY_CLIENT_ID): self._by_client_id,
            ("DELETE", ORDER): self._cancel,
            ("GET", OPEN_ORDERS): self._open_orders,
            ("GET", "/api/v1/trade/allOrders"): self._all_orders,
            ("GET", "/api/v1/trade/fills"): self._fills,
            ("GET", "/api/v1/account/balances"): self._balances,
        }
        handler = private.get((method, path))
        if handler is None:
            raise VenueError(404, {"result": False, "code": "NOT_FOUND", "message": "Not Found"})
        with self.lock:
            return handler(params)

    def _check_signature(self, request: Request, query: dict[str, str]) -> None:
        key = request.headers.get("pionex-key")
        sent = request.headers.get("pionex-signature")
        if not key:
            raise VenueError(*self.error("APIKEY_LOST", "API Key is missing"))
        if not sent:
            raise VenueError(*self.error("SIGNATURE_LOST", "Signature is missing"))
        secret = self.keys.get(key)
        if secret is None:
            raise VenueError(*self.error("INVALID_APIKEY", "Invalid API Key"))
        stamp = query.get("timestamp", "")
        if not stamp.isdigit() or abs(int(stamp) - core.now_ms()) > self.window_ms:
            raise VenueError(*self.error("INVALID_TIMESTAMP", "Invalid timestamp"))
        pairs = "&".join(f"{k}={v}" for k, v in sorted(parse_qsl(request.query)))
        message = f"{request.method}{request.path}?{pairs}{request.body}"
        expected = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sent):
            raise VenueError(*self.error("INVALID_SIGNATURE", "Invalid signature"))

    # --- public --------------------------------------------------------------------------------

    def _symbols(self, query: dict[str, str]) -> core.Answer:
        return self.ok({"symbols": [self._symbol(spec) for spec in self.specs]})

    def _symbol(self, spec: MarketSpec) -> dict[str, Any]:
        return {
            "symbol": spec.id, "type": "SPOT", "baseCurrency": spec.base,
            "quoteCurrency": spec.quote, "basePrecision": digits(spec.step),
            "quotePrecision": digits(spec.tick), "amountPrecision": self.amount_digits,
            "minAmount": _text(spec.min_notional), "minTradeSize": _text(spec.min_amount),
            "maxTradeSize": "1000", "minTradeDumping": _text(spec.min_amount),
            "maxTradeDumping": "100", "enable": True, "buyCeiling": "1.1", "sellFloor": "0.9",
        }  # fmt: skip

    def _depth(self, query: dict[str, str]) -> core.Answer:
        spec = self.spec(query.get("symbol", ""))
        bid, ask = self.books[spec.id]
        return self.ok({"bids": [[_text(bid), "10"]], "asks": [[_text(ask), "10"]],
                        "updateTime": core.now_ms()})  # fmt: skip

    # --- orders --------------------------------------------------------------------------------

    def _create(self, body: dict[str, Any]) -> core.Answer:
        spec = self.spec(str(body.get("symbol", "")))
        side, kind = str(body.get("side", "")), str(body.get("type", ""))
        cid = str(body.get("clientOrderId") or "")
        if side not in ("BUY", "SELL") or kind not in ("LIMIT", "MARKET"):
            raise Refusal("parameter", f"side {side} type {kind}")
        if cid and not CLIENT_ID.match(cid):
            raise Refusal("parameter", f"clientOrderId {cid}")
        extra: dict[str, Any] = {}
        price: Decimal | None = None
        if kind == "LIMIT":
            amount, price = self._number(body, "size"), self._number(body, "price")
            self._check_band(spec, side, price)
        elif side == "SELL":
            amount = self._number(body, "size")
        else:  # a market buy spends `amount` of the quote at the best ask
            if "size" in body:
                raise Refusal("parameter", "a market buy takes an amount, not a size")
            cost = self._number(body, "amount")
            if cost != cost.quantize(Decimal(1).scaleb(-self.amount_digits)):
                raise Refusal("min_notional", f"amount {cost}")
            if cost < spec.min_notional:
                raise Refusal("min_notional", f"amount {cost}")
            amount = (cost / self.books[spec.id][1]).quantize(spec.step, ROUND_DOWN)
            extra["amount"] = cost
        order = Order(self.next_id(), cid, spec.id, side.lower(),
                      core.LIMIT if kind == "LIMIT" else core.MARKET, amount, price,
                      extra=extra)  # fmt: skip
        placed = self.place(order)
        return self.ok({"orderId": int(placed.id), "clientOrderId": placed.client_id})

    @staticmethod
    def _number(body: dict[str, Any], name: str) -> Decimal:
        try:
            value = Decimal(str(body[name]))
        except (KeyError, ArithmeticError):
            raise Refusal("parameter", f"{name} is needed") from None
        if not value.is_finite() or value <= 0:
            raise Refusal("parameter", f"{name} {value}")
        return value

    def _check_band(self, spec: MarketSpec, side: str, price: Decimal) -> None:
        """buyCeiling / sellFloor: a limit buy at most 1.1 x the best bid, a sell at least
        0.9 x the best ask."""
        bid, ask = self.books[spec.id]
        if side == "BUY" and price > bid * D("1.1"):
            raise Refusal("price_step", f"{price} above the buy ceiling")
        if side == "SELL" and price < ask * D("0.9"):
            raise Refusal("price_step", f"{price} below the sell floor")

    def _find(self, params: dict[str, Any]) -> Order:
        order = self.orders.get(str(params.get("orderId", "")))
        if order is None:
            raise Refusal("not_found", str(params.get("orderId")))
        return order

    def _order(self, query: dict[str, Any]) -> core.Answer:
        return self.ok(self.shown(self._find(query)))

    def _by_client_id(self, query: dict[str, Any]) -> core.Answer:
        cid = str(query.get("clientOrderId", ""))
        found = [o for o in self.orders.values() if o.client_id == cid]
        if not found:
            raise Refusal("not_found", cid)
        return self.ok(self.shown(found[-1]))

    def _cancel(self, body: dict[str, Any]) -> core.Answer:
        self.spec(str(body.get("symbol", "")))
        self.cancel(self._find(body))
        return self.ok()

    def _listed(self, query: dict[str, Any], wanted: tuple[str, ...]) -> list[dict[str, Any]]:
        spec = self.spec(str(query.get("symbol", "")))
        mine = [o for o in self.orders.values() if o.symbol == spec.id and o.status in wanted]
        return [self.shown(o) for o in sorted(mine, key=lambda o: -o.created_ms)]

    def _open_orders(self, query: dict[str, Any]) -> core.Answer:
        return self.ok({"orders": self._listed(query, (core.OPEN,))})

    def _all_orders(self, query: dict[str, Any]) -> core.Answer:
        everything = (core.OPEN, core.FILLED, core.CANCELED, core.REJECTED)
        limit = int(query.get("limit") or 50)
        return self.ok({"orders": self._listed(query, everything)[:limit]})

    def _fills(self, query: dict[str, Any]) -> core.Answer:
        spec = self.spec(str(query.get("symbol", "")))
        since = int(query.get("startTime") or 0)
        mine = [t for t in self.trades if t.symbol == spec.id and t.at_ms >= since]
        return self.ok({"fills": [
            {"id": int(t.id), "orderId": int(t.order_id), "symbol": t.symbol,
             "side": t.side.upper(), "role": "MAKER" if t.maker else "TAKER",
             "price": _text(t.price), "size": _text(t.amount), "fee": _text(t.fee),
             "feeCoin": spec.quote, "timestamp": t.at_ms}
            for t in sorted(mine, key=lambda t: -t.at_ms)
        ][:100]})  # fmt: skip

    def _balances(self, query: dict[str, Any]) -> core.Answer:
        return self.ok({"balances": [
            {"coin": asset, "free": f"{free:.8f}", "frozen": f"{locked:.8f}"}
            for asset, (free, locked) in sorted(self.balances.items())
        ]})  # fmt: skip

    def shown(self, order: Order) -> dict[str, Any]:
        """An order as Pionex shows it: a market buy has an amount and no size."""
        spec = self.markets[order.symbol]
        market_buy = order.kind == core.MARKET and order.side == "buy"
        shown: dict[str, Any] = {
            "orderId": int(order.id), "symbol": order.symbol,
            "type": "LIMIT" if order.kind == core.LIMIT else "MARKET",
            "side": order.side.upper(),
            "price": _text(order.price) if order.price is not None else "",
            "filledSize": _text(order.filled), "filledAmount": _text(order.cost),
            "fee": _text(order.fee), "feeCoin": spec.quote,
            "status": "OPEN" if order.status == core.OPEN else "CLOSED", "IOC": False,
            "clientOrderId": order.client_id, "source": "API",
            "createTime": order.created_ms, "updateTime": order.updated_ms,
        }  # fmt: skip
        if market_buy:
            shown["amount"] = _text(order.extra["amount"])
        else:
            shown["size"] = _text(order.amount)
        return shown


def btc_usdt(window_ms: int = 20_000, **balances: Decimal) -> FakePionex:
    """BTC_USDT as Pionex lists it (6 size decimals, 2 price decimals, 10 USDT least value)."""
    spec = MarketSpec(
        id="BTC_USDT", base="BTC", quote="USDT", tick=D("0.01"), step=D("0.000001"),
        min_amount=D("0.000001"), min_notional=D(10), bid=D("64999.99"), ask=D("65000.01"),
    )  # fmt: skip
    held = {"USDT": [D(100_000), D(0)], "BTC": [D(0), D(0)]}
    held.update({asset: [amount, D(0)] for asset, amount in balances.items()})
    return FakePionex(specs=[spec], balances=held, window_ms=window_ms)


# The road's venue keeps a timestamp window of 1 s, not Pionex's 20 s, and the adapter is told so:
# a create that got no answer is sent again after twice the window, and the road's 429 and 5xx
# scenarios would otherwise wait 40 s each.
ROAD_WINDOW_SECONDS = 1.0


def road_fake() -> FakePionex:
    return btc_usdt(window_ms=int(ROAD_WINDOW_SECONDS * 1000))


def road_adapter(served: Served[Any], retry: RetryPolicy) -> Exchange:
    return PionexExchange(
        api_key=API_KEY,
        secret=API_SECRET,
        base_url=served.url,
        timeout_seconds=TIMEOUT_SECONDS,
        retry=retry,
        timestamp_window_seconds=ROAD_WINDOW_SECONDS,
        weight_per_second=0,  # the fake has no rate limit but the one a test asks for
    )


ROAD = Road("pionex", road_fake, "BTC/USDT", "BTC_USDT", D("0.01"), API_KEY, API_SECRET,
            mode="live", adapter=road_adapter)  # fmt: skip
