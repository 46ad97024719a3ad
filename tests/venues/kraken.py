"""Kraken spot's REST API (`https://api.kraken.com/0/...`) as a local fake: the dialect ccxt
4.5.90's `kraken` speaks, on the shared engine (tests/venues/core.py).

What it follows, and where from:
- Signed requests (docs.kraken.com "Spot REST Authentication"; ccxt `kraken.sign`): headers
  `API-Key`, `API-Sign` = base64(HMAC-SHA512(base64-decoded secret, URI path + SHA256(nonce +
  POST body))); a nonce not above the key's last one is refused (`EAPI:Invalid nonce`, nonce
  window 0). Answers are HTTP 200 with `{"error": [...], "result": {...}}`, errors as strings
  (docs "Spot Error Messages"; ccxt's `exceptions` table gives each one's class).
- AddOrder (docs "Add Order"): `ordertype` market, limit, stop-loss, take-profit,
  stop-loss-limit, take-profit-limit, `price` the trigger of the conditional ones and `price2`
  their limit; unknown parameters are ignored (so ccxt's `triggerPrice`, which its kraken class
  never reads, leaves a plain market order: the quirk of issue 14); `cl_ord_id` a long UUID, a
  short UUID (32 hex) or free ASCII text of at most 18 characters, unique among the OPEN orders
  only (docs "Spot Client Order Identifiers"); `deadline` (RFC 3339, 2 to 60 s ahead), after
  which the engine refuses the order (`EService:Deadline elapsed`). Answer: `{"descr": {"order":
  "..."}, "txid": [...]}`.
- AssetPairs' `ordermin`, `costmin`, `pair_decimals`, `lot_decimals`: `EOrder:Order minimum not
  met`, `EOrder:Cost minimum not met`, `EGeneral:Invalid arguments:volume`, `EOrder:Invalid
  price:<pair> price can only be specified up to <n> decimals.`
- QueryOrders, OpenOrders, ClosedOrders (50 a page, newest first; both lists filter by
  cl_ord_id), CancelOrder (by txid or cl_ord_id; `{"count": 1}`, `EOrder:Unknown order` once
  the order is not open), BalanceEx (ccxt reads no Balance), TradesHistory, and the public
  AssetPairs, Assets, Depth, Ticker and Time, in the shapes of ccxt's recorded answers
  (ts/src/test/static/response/kraken.json: createOrder, fetchOrder, fetchOpenOrders of a
  take-profit and a stop-loss-limit, fetchTicker) to its recorded requests
  (static/request/kraken.json: createOrder with stopLossPrice / takeProfitPrice, cancelOrder,
  fetchOpenOrders, fetchClosedOrders, fetchBalance, fetchOrderBook).
- Undocumented, from users' recorded refusals: a cl_ord_id an open order has is refused with
  `EGeneral:Invalid arguments:cl_ord_id not unique`, a malformed one with `EGeneral:Invalid
  arguments:cl_ord_id`; an unknown txid in QueryOrders with `EOrder:Invalid order`.
Not modelled, so refused as invalid arguments: margin (`leverage`), relative and trailing
prices, `viqc` (volume in quote), `validate`, `userref`, scheduled and expiring orders.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from tests.venues.core import (
    CANCELED,
    FILLED,
    LIMIT,
    MARKET,
    OPEN,
    STOP,
    STOP_LIMIT,
    TAKE_PROFIT,
    TAKE_PROFIT_LIMIT,
    Answer,
    FakeVenue,
    MarketSpec,
    Order,
    Refusal,
    Request,
    VenueError,
    now_ms,
)

D = Decimal
API_KEY = "kraken-fake-key"
SECRET = base64.b64encode(b"kraken fake secret, 64 bytes once decoded as Kraken's are...").decode()
PRIVATE, PUBLIC = "/0/private/", "/0/public/"

# XBTUSDT as Kraken lists it: pair_decimals 1, lot_decimals 8, ordermin 0.00005, costmin 0.5
XBTUSDT = MarketSpec(
    id="XBTUSDT", base="XXBT", quote="USDT", tick=D("0.1"), step=D("0.00000001"),
    min_amount=D("0.00005"), min_notional=D("0.5"), bid=D("60000.0"), ask=D("60000.1"),
)  # fmt: skip
ASSETS = {"XXBT": ("XBT", 10), "USDT": ("USDT", 8), "ZUSD": ("USD", 4)}  # id: altname, decimals

ORDER_TYPES = {
    "market": MARKET, "limit": LIMIT, "stop-loss": STOP, "take-profit": TAKE_PROFIT,
    "stop-loss-limit": STOP_LIMIT, "take-profit-limit": TAKE_PROFIT_LIMIT,
}  # fmt: skip
TYPE_NAMES = {kind: name for name, kind in ORDER_TYPES.items()}
NOT_MODELLED = ("leverage", "userref", "validate", "close[ordertype]", "starttm", "expiretm")
LONG_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
SHORT_UUID = re.compile(r"[0-9a-fA-F]{32}")
FREE_TEXT = re.compile(r"[\x21-\x7e]{1,18}")  # printable ASCII, no spaces
DEADLINE_MIN_MS, DEADLINE_MAX_MS = 2_000, 60_000  # how far ahead a deadline may be

ERRORS = {
    "symbol": "EQuery:Unknown asset pair",
    "amount_step": "EGeneral:Invalid arguments:volume",
    "min_amount": "EOrder:Order minimum not met",
    "price_step": "EOrder:Invalid price:{pair} price can only be specified up to {decimals}"
    " decimals.",
    "min_notional": "EOrder:Cost minimum not met",
    "funds": "EOrder:Insufficient funds",
    "duplicate": "EGeneral:Invalid arguments:cl_ord_id not unique",
    "would_trigger": "EGeneral:Invalid arguments:price",
    "reduce_only": "EOrder:Reduce only:No position exists",
    "not_found": "EOrder:Unknown order",
    "not_open": "EOrder:Unknown order",
}


def signature(secret: str, path: str, nonce: str, body: str) -> str:
    """Kraken's API-Sign of a private request."""
    digest = hashlib.sha256((nonce + body).encode()).digest()
    mac = hmac.new(base64.b64decode(secret), path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def refused(*errors: str) -> VenueError:
    return VenueError(200, {"error": list(errors)})


def ok(result: Any) -> Answer:
    return 200, {"error": [], "result": result}


def places(step: Decimal) -> int:
    return max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]


def fixed(value: Decimal, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def seconds(ms: int) -> float:
    return ms / 1000


def number(params: dict[str, str], name: str) -> Decimal | None:
    """A price or volume; a relative one (+, -, #, %) is not modelled: refused."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or raw[0] in "+-":
        raise refused(f"EGeneral:Invalid arguments:{name}")
    return value


def valid_client_id(value: str) -> bool:
    return any(p.fullmatch(value) for p in (LONG_UUID, SHORT_UUID, FREE_TEXT))


@dataclass
class KrakenSpot(FakeVenue):
    """Kraken spot: one account, API key `API_KEY`, secret `SECRET`."""

    OPS: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        "create": (("POST", PRIVATE + "AddOrder"),),
        # reading orders back: one by txid, and the closed ones (where a lookup by client id
        # finds a filled or cancelled order)
        "fetch": (("POST", PRIVATE + "QueryOrders"), ("POST", PRIVATE + "ClosedOrders")),
        "cancel": (("POST", PRIVATE + "CancelOrder"),),
        "open_orders": (("POST", PRIVATE + "OpenOrders"),),
    }
    FEE_RATE: ClassVar[Decimal] = D("0.0026")  # the first tier's taker fee

    api_key: str = API_KEY
    secret: str = SECRET
    last_nonce: int = 0
    received: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # private calls

    # --- dispatch ----------------------------------------------------------------------------

    def route(self, request: Request) -> Answer:
        if request.path.startswith(PUBLIC) and request.method == "GET":
            name = request.path[len(PUBLIC) :]
            public = {"AssetPairs": self.asset_pairs, "Assets": self.assets,
                      "Depth": self.depth, "Ticker": self.ticker, "Time": self.time}  # fmt: skip
            if name not in public:
                raise refused("EGeneral:Unknown method")
            return ok(public[name](dict(parse_qsl(request.query))))
        if request.path.startswith(PRIVATE) and request.method == "POST":
            name = request.path[len(PRIVATE) :]
            private = {
                "AddOrder": self.add_order, "CancelOrder": self.cancel_order,
                "QueryOrders": self.query_orders, "OpenOrders": self.open_orders,
                "ClosedOrders": self.closed_orders, "BalanceEx": self.balance_ex,
                "TradesHistory": self.trades_history,
            }  # fmt: skip
            params = self.authenticated(request)
            with self.lock:
                self.received.append((name, params))
            if name not in private:
                raise refused("EGeneral:Unknown method")
            return ok(private[name](params))
        raise refused("EGeneral:Unknown method")

    def refused(self, refusal: Refusal) -> Answer:
        spec = self.markets.get(refusal.detail) or self.specs[0]
        message = ERRORS[refusal.reason].format(pair=spec.id, decimals=places(spec.tick))
        return 200, {"error": [message]}

    def rate_limited(self) -> Answer:
        return 200, {"error": ["EAPI:Rate limit exceeded"]}

    def client_id_of(self, request: Request) -> str | None:
        return self.body(request).get("cl_ord_id")

    @staticmethod
    def body(request: Request) -> dict[str, str]:
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                decoded = json.loads(request.body or "{}")
            except ValueError:
                raise refused("EGeneral:Invalid arguments") from None
            return {k: v if isinstance(v, str) else json.dumps(v) for k, v in decoded.items()}
        return dict(parse_qsl(request.body, keep_blank_values=True))

    def authenticated(self, request: Request) -> dict[str, str]:
        """The request's parameters once its key, signature and nonce pass, as Kraken checks."""
        if request.headers.get("api-key") != self.api_key:
            raise refused("EAPI:Invalid key")
        params = self.body(request)
        nonce = params.get("nonce", "")
        if not nonce.isdigit():
            raise refused("EAPI:Invalid nonce")
        expected = signature(self.secret, request.path, nonce, request.body)
        if not hmac.compare_digest(expected, request.headers.get("api-sign", "")):
            raise refused("EAPI:Invalid signature")
        with self.lock:
            if int(nonce) <= self.last_nonce:
                raise refused("EAPI:Invalid nonce")
            self.last_nonce = int(nonce)
        return params

    # --- public ------------------------------------------------------------------------------

    def asset_pairs(self, params: dict[str, str]) -> dict[str, Any]:
        fees = [[0, 0.26], [50000, 0.24], [100000, 0.22], [250000, 0.2], [500000, 0.18]]
        fees_maker = [[0, 0.16], [50000, 0.14], [100000, 0.12], [250000, 0.1], [500000, 0.08]]
        return {
            spec.id: {
                "altname": spec.id, "wsname": f"{ASSETS[spec.base][0]}/{ASSETS[spec.quote][0]}",
                "aclass_base": "currency", "base": spec.base,
                "aclass_quote": "currency", "quote": spec.quote, "lot": "unit",
                "cost_decimals": 5, "pair_decimals": places(spec.tick),
                "lot_decimals": places(spec.step), "lot_multiplier": 1,
                "leverage_buy": [], "leverage_sell": [], "fees": fees, "fees_maker": fees_maker,
                "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40,
                "ordermin": str(spec.min_amount), "costmin": str(spec.min_notional),
                "tick_size": str(spec.tick), "status": "online",
            }
            for spec in self.specs
            if not params.get("pair") or spec.id in params["pair"].split(",")
        }  # fmt: skip

    def assets(self, params: dict[str, str]) -> dict[str, Any]:
        return {
            asset: {"aclass": "currency", "altname": altname, "decimals": decimals,
                    "display_decimals": min(decimals, 5), "status": "enabled"}
            for asset, (altname, decimals) in ASSETS.items()
        }  # fmt: skip

    def pair(self, params: dict[str, str]) -> MarketSpec:
        found = self.markets.get(params.get("pair", ""))
        if found is None:
            raise refused("EQuery:Unknown asset pair")
        return found

    def depth(self, params: dict[str, str]) -> dict[str, Any]:
        spec = self.pair(params)
        with self.lock:
            bid, ask = self.books[spec.id]
        at, decimals = int(seconds(now_ms())), places(spec.tick)
        return {spec.id: {"asks": [[fixed(ask, decimals), "10.000", at]],
                          "bids": [[fixed(bid, decimals), "10.000", at]]}}  # fmt: skip

    def ticker(self, params: dict[str, str]) -> dict[str, Any]:
        spec = self.pair(params)
        with self.lock:
            (bid, ask), last = self.books[spec.id], self.last[spec.id]
        p = places(spec.tick)
        return {spec.id: {"a": [fixed(ask, p), "1", "1.000"], "b": [fixed(bid, p), "1", "1.000"],
                          "c": [fixed(last, p), "0.00100000"], "v": ["1.0", "10.0"],
                          "p": [fixed(last, p)] * 2, "t": [10, 100], "l": [fixed(bid, p)] * 2,
                          "h": [fixed(ask, p)] * 2, "o": fixed(last, p)}}  # fmt: skip

    def time(self, params: dict[str, str]) -> dict[str, Any]:
        at = datetime.now(UTC)
        rfc1123 = at.strftime("%a, %d %b %y %H:%M:%S +0000")
        return {"unixtime": int(at.timestamp()), "rfc1123": rfc1123}

    # --- orders ------------------------------------------------------------------------------

    def add_order(self, params: dict[str, str]) -> dict[str, Any]:
        spec = self.pair(params)
        for name in NOT_MODELLED:
            if name in params:
                raise refused(f"EGeneral:Invalid arguments:{name}")
        side, kind = params.get("type"), ORDER_TYPES.get(params.get("ordertype", ""))
        if side not in ("buy", "sell"):
            raise refused("EGeneral:Invalid arguments:type")
        if kind is None:
            raise refused("EGeneral:Invalid arguments:ordertype")
        if "viqc" in params.get("oflags", ""):
            raise refused("EGeneral:Invalid arguments:viqc")  # volume in quote: not modelled
        volume = number(params, "volume")
        if volume is None:
            raise refused("EGeneral:Invalid arguments:volume")
        price, price2 = number(params, "price"), number(params, "price2")
        limit, trigger = self._prices(kind, price, price2)
        client_id = params.get("cl_ord_id", "")
        if "cl_ord_id" in params and not valid_client_id(client_id):
            raise refused("EGeneral:Invalid arguments:cl_ord_id")
        self._before_deadline(params.get("deadline"))
        order = Order(
            id=self.txid("O"), client_id=client_id, symbol=spec.id, side=side, kind=kind,
            amount=volume, price=limit, trigger=trigger,
            reduce_only=params.get("reduce_only", "").lower() == "true",
            extra={"ordertype": params["ordertype"]},
        )  # fmt: skip
        self.place(order)
        return {"descr": {"order": self.sentence(order)}, "txid": [order.id]}

    @staticmethod
    def _prices(
        kind: str, price: Decimal | None, price2: Decimal | None
    ) -> tuple[Decimal | None, Decimal | None]:
        """The limit and trigger prices: `price` is the trigger of a conditional order."""
        if kind == MARKET:
            return None, None
        if price is None:
            raise refused("EGeneral:Invalid arguments:price")
        if kind == LIMIT:
            return price, None
        if kind in (STOP_LIMIT, TAKE_PROFIT_LIMIT):
            if price2 is None:
                raise refused("EGeneral:Invalid arguments:price2")
            return price2, price
        return None, price

    @staticmethod
    def _before_deadline(deadline: str | None) -> None:
        if deadline is None:
            return
        try:
            at = datetime.fromisoformat(deadline.replace("Z", "+00:00"))
        except ValueError:
            raise refused("EGeneral:Invalid arguments:deadline") from None
        if at.tzinfo is None:
            raise refused("EGeneral:Invalid arguments:deadline")
        left_ms = at.timestamp() * 1000 - now_ms()
        if left_ms <= 0:
            raise refused("EService:Deadline elapsed")
        if not DEADLINE_MIN_MS <= left_ms <= DEADLINE_MAX_MS:
            raise refused("EGeneral:Invalid arguments:deadline")

    def duplicate_of(self, order: Order) -> bool:
        """Kraken checks a cl_ord_id against the client's open orders only."""
        return any(o.client_id == order.client_id and o.status == OPEN
                   for o in self.orders.values())  # fmt: skip

    def cancel_order(self, params: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            if "cl_ord_id" in params:
                found = [o for o in self.orders.values()
                         if o.client_id == params["cl_ord_id"] and o.status == OPEN]  # fmt: skip
            else:
                order = self.orders.get(params.get("txid", ""))
                found = [order] if order is not None else []
            if not found:
                raise Refusal("not_found", params.get("txid", ""))
            self.cancel(found[0])
        return {"count": 1}

    def query_orders(self, params: dict[str, str]) -> dict[str, Any]:
        ids = [i for i in params.get("txid", "").split(",") if i]
        if not ids:
            raise refused("EGeneral:Invalid arguments")
        trades = params.get("trades", "").lower() == "true"
        with self.lock:
            if any(i not in self.orders for i in ids):
                raise refused("EOrder:Invalid order")
            return {i: self.info(self.orders[i], trades) for i in ids}

    def listed(self, params: dict[str, str], *, open_ones: bool) -> dict[str, Any]:
        trades = params.get("trades", "").lower() == "true"
        start = float(params.get("start") or 0)
        with self.lock:
            chosen = [
                o for o in self.orders.values()
                if (o.status == OPEN) == open_ones
                and params.get("cl_ord_id", o.client_id) == o.client_id
                and seconds(o.created_ms) > start
            ]  # fmt: skip
            chosen.sort(key=lambda o: o.updated_ms if not open_ones else o.created_ms,
                        reverse=True)  # fmt: skip
            return {o.id: self.info(o, trades) for o in chosen}

    def open_orders(self, params: dict[str, str]) -> dict[str, Any]:
        return {"open": self.listed(params, open_ones=True)}

    def closed_orders(self, params: dict[str, str]) -> dict[str, Any]:
        closed = self.listed(params, open_ones=False)
        offset = int(params.get("ofs") or 0)
        page = dict(list(closed.items())[offset : offset + 50])  # 50 a page, newest first
        return {"closed": page, "count": len(closed)}

    # --- account -----------------------------------------------------------------------------

    def balance_ex(self, params: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            return {
                asset: {"balance": fixed(free + locked, ASSETS[asset][1]),
                        "hold_trade": fixed(locked, ASSETS[asset][1])}
                for asset, (free, locked) in self.balances.items()
            }  # fmt: skip

    def trades_history(self, params: dict[str, str]) -> dict[str, Any]:
        start = float(params.get("start") or 0)
        with self.lock:
            found = {}
            for trade in reversed(self.trades):
                if seconds(trade.at_ms) <= start:
                    continue
                spec, order = self.markets[trade.symbol], self.orders[trade.order_id]
                p = places(spec.tick)
                found[self.trade_id(trade.id)] = {
                    "ordertxid": trade.order_id, "postxid": self.trade_id(f"pos {trade.id}"),
                    "pair": spec.id,
                    "time": seconds(trade.at_ms), "type": trade.side,
                    "ordertype": TYPE_NAMES[order.kind] if not order.triggered else "market",
                    "price": fixed(trade.price, p), "cost": fixed(trade.price * trade.amount, 5),
                    "fee": fixed(trade.fee, 5), "vol": fixed(trade.amount, places(spec.step)),
                    "margin": "0.00000", "leverage": "0", "misc": "",
                    "trade_id": int(trade.id), "maker": trade.maker,
                }  # fmt: skip
            return {"trades": found, "count": len(found)}

    # --- shapes ------------------------------------------------------------------------------

    def txid(self, prefix: str) -> str:
        """A Kraken-like id (OABCDE-FGHIJ-KLMNOP), unique in this fake."""
        raw = base64.b32encode(hashlib.sha256(self.next_id().encode()).digest()).decode()
        return f"{prefix}{raw[:5]}-{raw[5:10]}-{raw[10:16]}"

    @staticmethod
    def trade_id(engine_id: str) -> str:
        raw = base64.b32encode(hashlib.sha256(f"trade {engine_id}".encode()).digest()).decode()
        return f"T{raw[:5]}-{raw[5:10]}-{raw[10:16]}"

    def sentence(self, order: Order) -> str:
        """descr.order, as Kraken writes it."""
        spec = self.markets[order.symbol]
        p = places(spec.tick)
        head = f"{order.side} {fixed(order.amount, places(spec.step))} {spec.id} @ "
        kind = ORDER_TYPES[order.extra["ordertype"]]
        if kind == MARKET:
            return head + "market"
        if kind == LIMIT:
            assert order.price is not None
            return head + f"limit {fixed(order.price, p)}"
        assert order.trigger is not None
        words = "stop loss" if kind in (STOP, STOP_LIMIT) else "take profit"
        tail = f" -> limit {fixed(order.price, p)}" if order.price is not None else ""
        return head + f"{words} {fixed(order.trigger, p)}{tail}"

    def info(self, order: Order, trades: bool) -> dict[str, Any]:
        """An order as QueryOrders, OpenOrders and ClosedOrders show it."""
        spec = self.markets[order.symbol]
        p, v = places(spec.tick), places(spec.step)
        kind = ORDER_TYPES[order.extra["ordertype"]]
        first = order.trigger if order.trigger is not None else order.price
        second = order.price if kind in (STOP_LIMIT, TAKE_PROFIT_LIMIT) else None
        status = {OPEN: "open", FILLED: "closed"}.get(order.status, "canceled")
        shown: dict[str, Any] = {
            "refid": None,
            "userref": None if order.client_id else 0,
            **({"cl_ord_id": order.client_id} if order.client_id else {}),
            "status": status,
            "opentm": seconds(order.created_ms), "starttm": 0, "expiretm": 0,
            "descr": {
                "pair": spec.id, "type": order.side, "ordertype": order.extra["ordertype"],
                "price": fixed(first, p) if first is not None else "0",
                "price2": fixed(second, p) if second is not None else "0",
                "leverage": "none", "order": self.sentence(order), "close": "",
            },
            "vol": fixed(order.amount, v), "vol_exec": fixed(order.filled, v),
            "cost": fixed(order.cost, 5), "fee": fixed(order.fee, 5),
            "price": fixed(order.average or D(0), 5),
            "stopprice": "0.00000", "limitprice": "0.00000", "misc": "", "oflags": "fciq",
            "reason": "User requested" if order.status == CANCELED else None,
        }  # fmt: skip
        if order.status != OPEN:
            shown["closetm"] = seconds(order.updated_ms)
        if trades:
            shown["trades"] = [self.trade_id(t.id) for t in self.trades if t.order_id == order.id]
        return shown


def fake() -> KrakenSpot:
    """The road's Kraken: XBTUSDT, 10,000 USDT and no bitcoin."""
    return KrakenSpot(specs=[XBTUSDT], balances={"USDT": [D(10_000), D(0)], "XXBT": [D(0), D(0)]})
