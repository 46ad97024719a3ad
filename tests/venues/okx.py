"""A local fake of OKX's REST API v5 (demo trading): spot and USDT-margined perpetual swaps.

Faithful to what ccxt 4.5.90 (`ccxt/async_support/okx.py`) sends and to OKX's documentation
(docs-v5: "REST Authentication", "Place order", "Place multiple orders", "Cancel order",
"Get order details", "Get order List", "Order history", "Transaction details", "POST / Place
algo order", "GET / Algo order details", "GET / Algo order list", "GET / Algo order history",
"POST / Cancel algo order", "Get balance", "Get positions", "Get account configuration",
"Set leverage", "Set position mode", "Get instruments", "Get order book", "Get ticker", the
error-code table), and to ccxt's recorded requests and answers
(ts/src/test/static/request/okx.json: createOrder to /trade/batch-orders and
/trade/order-algo; static/response/okx.json: the create answers `{clOrdId, ordId, sCode:"0",
sMsg:"Order placed", tag, ts}` and `{algoClOrdId, algoId, clOrdId, sCode, sMsg, tag}`, the
trading balance `details`).

What it holds to, as OKX does:
- private requests signed: OK-ACCESS-SIGN = base64(HMAC-SHA256(secret, timestamp + method +
  requestPath[?query] + body)), OK-ACCESS-TIMESTAMP ISO within 30 s, OK-ACCESS-PASSPHRASE;
  demo keys only with `x-simulated-trading: 1` (ccxt's sandbox sends it). Refusals: HTTP 401
  `{"code":"50113","msg":"Invalid Sign"}` and its siblings (ccxt: AuthenticationError);
- the envelope `{"code":"0","msg":"","data":[...]}`; an order refused is `code "1"` with
  `data[0].sCode/sMsg` (51008 funds, 51016 duplicated clOrdId, 51121 lot size, 51020 minimum,
  51277-51280 a trigger on the wrong side of the last price, 51169/51205 reduce-only, 51400
  nothing to cancel); a read of an unknown order is `code "51603"`; 429 is
  `{"code":"50011","msg":"Too Many Requests"}` (ccxt: RateLimitExceeded);
- clOrdId: 1-32 alphanumerics (else 51000 "Parameter clOrdId error");
- conditional orders (`/trade/order-algo`: ordType conditional with slTriggerPx/slOrdPx or
  tpTriggerPx/tpOrdPx, -1 for market; ordType trigger with triggerPx/orderPx) live apart: they
  are read, listed and cancelled only through the algo endpoints (ccxt's `trigger: True`);
  their client id is algoClOrdId (ccxt sends clOrdId; OKX shows it as both). Once triggered an
  algo order is `effective` and carries no fills: its market order (`ordIdList`) does, read by
  `/trade/order?ordId=` with `algoId`/`algoClOrdId` set and an empty clOrdId;
- swaps count contracts (`sz`, `pos`, `accFillSz`): ctVal coins each; one-way (`net_mode`)
  unless built with hedge_mode; leverage per instrument (`/account/set-leverage`); reduce-only;
- one trading account (`/account/balance`) holds spot coins and swap margin (unified account,
  "Spot and futures mode": acctLv 2); availEq is what is free of orders and margin.

Left out (not used by signalgate): oco, trailing, iceberg and twap algo orders, attached TP/SL
(`attachAlgoOrds`), isolated margin, borrowing (a spot order sent with tdMode cross, as ccxt
sends conditional spot orders, trades the coins held, like auto-borrow off), and the refusal of
a place order received after its `expTime` header (kept in the order's `extra`: OKX's docs give
no code for that refusal). Fees are charged
in the quote currency (the engine's convention), where OKX charges a spot buy in the base.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, NoReturn
from urllib.parse import parse_qsl

from tests.venues import core
from tests.venues.core import Answer, D, FakeVenue, Json, MarketSpec, Order, Refusal, Request
from tests.venues.okx_account import OkxAccount, instrument
from tests.venues.okx_shapes import (
    ERRORS,
    WRONG_SIDE,
    Failed,
    algo_json,
    child_id,
    ok,
    order_json,
    refusal_of,
    trade_json,
)

API_KEY, SECRET, PASSPHRASE = "okx-demo-key", "okx-demo-secret", "okx-demo-passphrase"
CLIENT_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_V5 = "/api/v5"

BTC_SPOT = MarketSpec("BTC-USDT", "BTC", "USDT", tick=D("0.1"), step=D("0.00000001"),
                      min_amount=D("0.00001"), min_notional=D(0), bid=D("60000"),
                      ask=D("60000.2"))  # fmt: skip
BTC_SWAP = MarketSpec("BTC-USDT-SWAP", "BTC", "USDT", tick=D("0.1"), step=D("0.01"),
                      min_amount=D("0.01"), min_notional=D(0), bid=D("60000"), ask=D("60000.2"),
                      swap=True, contract_size=D("0.01"), max_leverage=100)  # fmt: skip
DOGE_SWAP = MarketSpec("DOGE-USDT-SWAP", "DOGE", "USDT", tick=D("0.00001"), step=D("0.01"),
                       min_amount=D("0.01"), min_notional=D(0), bid=D("0.15"), ask=D("0.15001"),
                       swap=True, contract_size=D(1000), max_leverage=75)  # fmt: skip

_PUBLIC = "/public/", "/market/"


def spot_and_swaps() -> OkxVenue:
    """The venue the road trades on: 10,000 USDT in the trading account, no coins."""
    return OkxVenue(specs=[BTC_SPOT, BTC_SWAP, DOGE_SWAP],
                    balances={"USDT": [D(10000), D(0)]})  # fmt: skip


@dataclass
class OkxVenue(OkxAccount, FakeVenue):
    OPS: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        "create": (("POST", f"{_V5}/trade/batch-orders"), ("POST", f"{_V5}/trade/order"),
                   ("POST", f"{_V5}/trade/order-algo")),
        "fetch": (("GET", f"{_V5}/trade/order"), ("GET", f"{_V5}/trade/order-algo")),
        "cancel": (("POST", f"{_V5}/trade/cancel-order"),
                   ("POST", f"{_V5}/trade/cancel-batch-orders"),
                   ("POST", f"{_V5}/trade/cancel-algos")),
        "open_orders": (("GET", f"{_V5}/trade/orders-pending"),
                        ("GET", f"{_V5}/trade/orders-algo-pending")),
    }  # fmt: skip
    FEE_RATE: ClassVar[Decimal] = D("0.0005")

    api_key: str = API_KEY
    secret: str = SECRET
    passphrase: str = PASSPHRASE
    demo: bool = True  # demo-trading keys: only with x-simulated-trading: 1
    skew_seconds: float = 30.0
    algo_ids: set[str] = field(default_factory=set)  # the algo orders' ids

    # --- the dialect -------------------------------------------------------------------------

    def rate_limited(self) -> Answer:
        return 429, {"msg": "Too Many Requests", "code": "50011"}

    def refused(self, refusal: Refusal) -> Answer:
        failed = refusal_of(refusal)
        return 200, {"code": failed.code, "msg": failed.message, "data": []}

    def client_id_of(self, request: Request) -> str | None:
        try:
            body = json.loads(request.body or "{}")
        except ValueError:
            return None
        first = body[0] if isinstance(body, list) and body else body
        return str(first.get("clOrdId") or first.get("algoClOrdId") or "") or None

    def route(self, request: Request) -> Answer:
        path = request.path.removeprefix(_V5)
        query = dict(parse_qsl(request.query))
        if not path.startswith(_PUBLIC):
            self._authenticate(request)
        self._local.headers = request.headers
        body: Any = json.loads(request.body) if request.body else {}
        handler = _ROUTES.get((request.method, path))
        if handler is None:
            return 404, {"code": "404", "msg": "Not Found", "data": []}
        try:
            return 200, handler(self, query, body)
        except Failed as failed:
            return 200, {"code": failed.code, "msg": failed.message, "data": []}

    def _authenticate(self, request: Request) -> None:
        headers = request.headers
        for header, code in (
            ("ok-access-key", "50103"),
            ("ok-access-passphrase", "50104"),
            ("ok-access-timestamp", "50107"),
            ("ok-access-sign", "50106"),
        ):
            if not headers.get(header):
                name = header.upper().replace("-", "_")
                _deny(code, f'Request header "{name}" cannot be blank.')
        if headers["ok-access-key"] != self.api_key:
            _deny("50111", "Invalid OK-ACCESS-KEY.")
        if self.demo and headers.get("x-simulated-trading") != "1":
            _deny("50101", "APIKey does not match current environment.")
        if headers["ok-access-passphrase"] != self.passphrase:
            _deny("50105", "Your OK-ACCESS-PASSPHRASE is incorrect.")
        stamp = headers["ok-access-timestamp"]
        try:
            sent = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            _deny("50112", "Invalid OK-ACCESS-TIMESTAMP.")
        if abs((datetime.now(UTC) - sent).total_seconds()) > self.skew_seconds:
            _deny("50102", "Timestamp request expired.")
        target = request.path + (f"?{request.query}" if request.query else "")
        prehash = stamp + request.method + target + request.body
        digest = hmac.new(self.secret.encode(), prehash.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), headers["ok-access-sign"]):
            _deny("50113", "Invalid Sign")

    # --- public ------------------------------------------------------------------------------

    def _time(self, query: dict[str, str], body: Any) -> Json:
        return ok([{"ts": str(core.now_ms())}])

    def _instruments(self, query: dict[str, str], body: Any) -> Json:
        kind = query.get("instType")
        if kind not in ("SPOT", "SWAP", "FUTURES", "OPTION", "MARGIN"):
            raise Failed("51000", "Parameter instType error")
        return ok([instrument(spec) for spec in self.specs
                   if (kind == "SWAP") == spec.swap and kind in ("SPOT", "SWAP")])  # fmt: skip

    def _books(self, query: dict[str, str], body: Any) -> Json:
        spec = self._spec(query.get("instId"))
        bid, ask = self.books[spec.id]
        depth = "1000"
        return ok([{"asks": [[f"{ask}", depth, "0", "1"]], "bids": [[f"{bid}", depth, "0", "1"]],
                    "ts": str(core.now_ms())}])  # fmt: skip

    def _ticker(self, query: dict[str, str], body: Any) -> Json:
        swaps = query.get("instType") == "SWAP"
        specs = [s for s in self.specs if s.swap == swaps]
        if "instId" in query:
            specs = [self._spec(query.get("instId"))]
        rows = []
        for spec in specs:
            bid, ask = self.books[spec.id]
            last = f"{self.last[spec.id]}"
            rows.append({"instType": "SWAP" if spec.swap else "SPOT", "instId": spec.id,
                         "last": last, "lastSz": "1", "askPx": f"{ask}", "askSz": "1000",
                         "bidPx": f"{bid}", "bidSz": "1000", "open24h": last, "high24h": last,
                         "low24h": last, "volCcy24h": "0", "vol24h": "0", "sodUtc0": last,
                         "sodUtc8": last, "ts": str(core.now_ms())})  # fmt: skip
        return ok(rows)

    # --- orders ------------------------------------------------------------------------------

    def _create_batch(self, query: dict[str, str], body: Any) -> Json:
        if not isinstance(body, list) or not 1 <= len(body) <= 20:
            raise Failed("51000", "Parameter body error")
        return self._answers([self._place(entry, algo=False) for entry in body])

    def _create_one(self, query: dict[str, str], body: Any) -> Json:
        return self._answers([self._place(body, algo=False)])

    def _create_algo(self, query: dict[str, str], body: Any) -> Json:
        return self._answers([self._place(body, algo=True)])

    def _answers(self, rows: list[dict[str, str]]) -> Json:
        failed = sum(1 for row in rows if row["sCode"] != "0")
        code, msg = ("0", "") if not failed else ("1", "All operations failed") if failed == len(
            rows) else ("2", "Bulk operation partially succeeded")  # fmt: skip
        return {"code": code, "msg": msg, "data": rows, "inTime": str(core.now_ms() * 1000),
                "outTime": str(core.now_ms() * 1000)}  # fmt: skip

    def _place(self, entry: dict[str, Any], *, algo: bool) -> dict[str, str]:
        cid = str(entry.get("clOrdId") or entry.get("algoClOrdId") or "")
        tag = str(entry.get("tag") or "")
        try:
            order = self._order_of(entry, cid, algo=algo)
            with self.lock:
                self.place(order)
                if algo:
                    self.algo_ids.add(order.id)
        except Refusal as refusal:
            failed = refusal_of(refusal)
            return _row(cid, "", failed.code, failed.message, tag, algo)
        except Failed as failed:
            return _row(cid, "", failed.code, failed.message, tag, algo)
        return _row(cid, order.id, "0", "" if algo else "Order placed", tag, algo)

    def _order_of(self, entry: dict[str, Any], cid: str, *, algo: bool) -> Order:
        spec = self._spec(entry.get("instId"))
        side = entry.get("side")
        if side not in ("buy", "sell"):
            raise Failed("51000", "Parameter side error")
        if cid and not CLIENT_ID.match(cid):
            raise Failed("51000", "Parameter clOrdId error")
        self._check_modes(spec, entry)
        try:
            amount = D(str(entry["sz"]))
        except (KeyError, ArithmeticError):
            raise Failed("51000", "Parameter sz error") from None
        if not spec.swap and entry.get("tgtCcy") == "quote_ccy":
            raise Failed("51000", "Parameter tgtCcy error")  # not modelled: we send base_ccy
        reduce = entry.get("reduceOnly") in (True, "true")
        kind, price, trigger, extra = self._terms(spec, entry, side, algo=algo)
        order = Order(self.next_id(), cid, spec.id, side, kind, amount, price, trigger, reduce,
                      extra={"tdMode": entry.get("tdMode"), "tag": str(entry.get("tag") or ""),
                             "expTime": self._local.headers.get("exptime"),
                             **extra})  # fmt: skip
        if order.conditional and algo and self._fires(order):
            raise Failed(*WRONG_SIDE[(kind in (core.TAKE_PROFIT, core.TAKE_PROFIT_LIMIT), side)])
        return order

    def _check_modes(self, spec: MarketSpec, entry: dict[str, Any]) -> None:
        mode, pos_side = entry.get("tdMode"), entry.get("posSide")
        if mode not in (("cash", "cross") if not spec.swap else ("cross", "isolated")):
            raise Failed("51000", "Parameter tdMode error")
        if spec.swap and mode == "isolated":
            raise Failed("51000", "Parameter tdMode error")  # not modelled
        if spec.swap and self.hedge_mode != (pos_side in ("long", "short")):
            raise Failed("51000", "Parameter posSide error")
        if pos_side not in (None, "net", "long", "short"):
            raise Failed("51000", "Parameter posSide error")

    def _terms(
        self, spec: MarketSpec, entry: dict[str, Any], side: str, *, algo: bool
    ) -> tuple[str, Decimal | None, Decimal | None, dict[str, Any]]:
        """The engine's kind, price and trigger of an order (OKX's ordType and prices)."""
        kind = entry.get("ordType")
        if not algo:
            if kind == "market":
                return core.MARKET, None, None, {"ordType": kind}
            if kind == "limit":
                return core.LIMIT, _price(entry, "px"), None, {"ordType": kind}
            raise Failed("51000", "Parameter ordType error")
        if kind == "conditional":
            stop = "slTriggerPx" in entry  # both sent: OKX performs the stop-loss only
            prefix = "sl" if stop else "tp"
            trigger = _price(entry, f"{prefix}TriggerPx")
            limit = str(entry.get(f"{prefix}OrdPx", ""))
            if limit == "":
                raise Failed("51000", f"Parameter {prefix}OrdPx error")
            market = limit == "-1"
            kinds = (
                (core.STOP, core.STOP_LIMIT) if stop else (core.TAKE_PROFIT, core.TAKE_PROFIT_LIMIT)
            )
            return (kinds[0] if market else kinds[1], None if market else D(limit), trigger,
                    {"ordType": kind, "prefix": prefix})  # fmt: skip
        if kind == "trigger":
            trigger = _price(entry, "triggerPx")
            limit = str(entry.get("orderPx", ""))
            falls = trigger < self.last[spec.id]  # fires when the price comes down to it
            stop = falls == (side == "sell")
            market = limit == "-1"
            kinds = (
                (core.STOP, core.STOP_LIMIT) if stop else (core.TAKE_PROFIT, core.TAKE_PROFIT_LIMIT)
            )
            return (kinds[0] if market else kinds[1], None if market else D(limit), trigger,
                    {"ordType": kind})  # fmt: skip
        raise Failed("51000", "Parameter ordType error")

    def _regular(self, query: dict[str, str], *, algo: bool) -> Order:
        """The order a read or a cancel names, by id or client id, in its own namespace: an
        algo order by algoId/algoClOrdId; a regular one by ordId/clOrdId, or the market order
        a triggered algo order placed by its ordId."""
        key, client = ("algoId", "algoClOrdId") if algo else ("ordId", "clOrdId")
        with self.lock:
            for order in self.orders.values():
                if (order.id in self.algo_ids) == algo:
                    if query.get(key) == order.id:
                        return order
                    if key not in query and query.get(client) == order.client_id != "":
                        return order
                elif not algo and query.get(key) and query[key] == child_id(self, order):
                    return order
        raise Refusal("not_found", str(query))

    def _fetch(self, query: dict[str, str], body: Any) -> Json:
        try:
            order = self._regular(query, algo=False)
        except Refusal:
            raise Failed("51603", "Order does not exist") from None
        return ok([order_json(self, order)])

    def _fetch_algo(self, query: dict[str, str], body: Any) -> Json:
        if not query.get("algoId") and not query.get("algoClOrdId"):
            raise Failed("51000", "Parameter algoId error")
        try:
            order = self._regular(query, algo=True)
        except Refusal:
            raise Failed("51603", "Order does not exist") from None
        return ok([algo_json(self, order)])

    def _cancel(self, query: dict[str, str], body: Any) -> Json:
        return self._answers([self._cancel_one(body, algo=False)])

    def _cancel_batch(self, query: dict[str, str], body: Any) -> Json:
        return self._answers([self._cancel_one(entry, algo=False) for entry in body])

    def _cancel_algos(self, query: dict[str, str], body: Any) -> Json:
        if not isinstance(body, list) or not 1 <= len(body) <= 10:
            raise Failed("51000", "Parameter body error")
        return self._answers([self._cancel_one(entry, algo=True) for entry in body])

    def _cancel_one(self, entry: dict[str, Any], *, algo: bool) -> dict[str, str]:
        names = {str(k): str(v) for k, v in entry.items()}
        cid = names.get("algoClOrdId" if algo else "clOrdId", "")
        try:
            self._spec(names.get("instId"))
            with self.lock:
                order = self._regular(names, algo=algo)
                if algo and order.triggered:
                    raise Refusal("not_open", order.id)  # effective: nothing left to cancel
                self.cancel(order)
        except Refusal as refusal:
            failed = refusal_of(refusal)
            return _row(cid, names.get("algoId" if algo else "ordId", ""), failed.code,
                        failed.message, "", algo)  # fmt: skip
        return _row(order.client_id, order.id, "0", "", "", algo)

    def _pending(self, query: dict[str, str], body: Any) -> Json:
        with self.lock:
            found = [order_json(self, o) for o in self._listed(query, algo=False)
                     if o.status == core.OPEN]  # fmt: skip
        return ok(found)

    def _pending_algo(self, query: dict[str, str], body: Any) -> Json:
        kinds = _algo_kinds(query)
        with self.lock:
            found = [algo_json(self, o) for o in self._listed(query, algo=True)
                     if o.status == core.OPEN and not o.triggered
                     and o.extra.get("ordType") in kinds]  # fmt: skip
        return ok(found)

    def _history(self, query: dict[str, str], body: Any) -> Json:
        with self.lock:
            found = [order_json(self, o) for o in self._listed(query, algo=False)
                     if o.status != core.OPEN]  # fmt: skip
        return ok(found)

    def _history_algo(self, query: dict[str, str], body: Any) -> Json:
        kinds, state = _algo_kinds(query), query.get("state")
        if not state and "algoId" not in query:
            raise Failed("51000", "Parameter state error")
        with self.lock:
            found = [
                algo_json(self, o)
                for o in self._listed(query, algo=True)
                if o.extra.get("ordType") in kinds and (o.status != core.OPEN or o.triggered)
            ]
        return ok([row for row in found if not state or row["state"] == state])

    def _listed(self, query: dict[str, str], *, algo: bool) -> list[Order]:
        """Newest first, the market of `instId` (and `instType`) only."""
        kind = query.get("instType")
        chosen = []
        for order in self.orders.values():
            spec = self.markets[order.symbol]
            if query.get("instId") not in (None, order.symbol):
                continue
            if kind is not None and kind != ("SWAP" if spec.swap else "SPOT"):
                continue
            is_algo = order.id in self.algo_ids
            if algo == is_algo or (not algo and order.triggered and child_id(self, order)):
                chosen.append(order)
        return sorted(chosen, key=lambda o: o.created_ms, reverse=True)

    def _fills(self, query: dict[str, str], body: Any) -> Json:
        since = int(query.get("begin") or 0)
        with self.lock:
            rows = [trade_json(self, t) for t in reversed(self.trades)
                    if t.at_ms >= since and query.get("instId") in (None, t.symbol)]  # fmt: skip
        return ok(rows)

    def _spec(self, inst_id: object) -> MarketSpec:
        if not inst_id:
            raise Failed("50014", "Parameter instId can not be empty.")
        spec = self.markets.get(str(inst_id))
        if spec is None:
            raise Failed(*ERRORS["symbol"])
        return spec


def _deny(code: str, message: str) -> NoReturn:
    """A private request refused before it is read: HTTP 401 with OKX's code."""
    raise core.VenueError(401, {"code": code, "msg": message})


def _price(entry: dict[str, Any], key: str) -> Decimal:
    try:
        value = D(str(entry[key]))
    except (KeyError, ArithmeticError):
        raise Failed("51000", f"Parameter {key} error") from None
    if value <= 0:
        raise Failed("51000", f"Parameter {key} error")
    return value


def _row(cid: str, oid: str, code: str, message: str, tag: str, algo: bool) -> dict[str, str]:
    if algo:
        return {"algoClOrdId": cid, "algoId": oid, "clOrdId": cid, "sCode": code,
                "sMsg": message, "tag": tag}  # fmt: skip
    return {"clOrdId": cid, "ordId": oid, "sCode": code, "sMsg": message, "tag": tag,
            "ts": str(core.now_ms())}  # fmt: skip


def _algo_kinds(query: dict[str, str]) -> set[str]:
    kinds = set((query.get("ordType") or "").split(",")) - {""}
    if not kinds:
        raise Failed("50014", "Parameter ordType can not be empty.")
    if len(kinds) > 1 and kinds != {"conditional", "oco"}:
        raise Failed("51000", "Parameter ordType error")
    return kinds


_ROUTES = {
    ("GET", "/public/time"): OkxVenue._time,
    ("GET", "/public/instruments"): OkxVenue._instruments,
    ("GET", "/market/books"): OkxVenue._books,
    ("GET", "/market/ticker"): OkxVenue._ticker,
    ("GET", "/market/tickers"): OkxVenue._ticker,
    ("POST", "/trade/batch-orders"): OkxVenue._create_batch,
    ("POST", "/trade/order"): OkxVenue._create_one,
    ("POST", "/trade/order-algo"): OkxVenue._create_algo,
    ("GET", "/trade/order"): OkxVenue._fetch,
    ("GET", "/trade/order-algo"): OkxVenue._fetch_algo,
    ("POST", "/trade/cancel-order"): OkxVenue._cancel,
    ("POST", "/trade/cancel-batch-orders"): OkxVenue._cancel_batch,
    ("POST", "/trade/cancel-algos"): OkxVenue._cancel_algos,
    ("GET", "/trade/orders-pending"): OkxVenue._pending,
    ("GET", "/trade/orders-algo-pending"): OkxVenue._pending_algo,
    ("GET", "/trade/orders-history"): OkxVenue._history,
    ("GET", "/trade/orders-algo-history"): OkxVenue._history_algo,
    ("GET", "/trade/fills"): OkxVenue._fills,
    ("GET", "/trade/fills-history"): OkxVenue._fills,
    ("GET", "/account/balance"): OkxVenue._balance,
    ("GET", "/account/positions"): OkxVenue._positions,
    ("GET", "/account/config"): OkxVenue._config,
    ("POST", "/account/set-leverage"): OkxVenue._set_leverage,
    ("POST", "/account/set-position-mode"): OkxVenue._set_position_mode,
}
