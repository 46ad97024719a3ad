"""Crypto.com Exchange spot (REST API v1), a local fake: the `FakeVenue` engine in the venue's
own dialect, as ccxt 4.5.90's `cryptocom` speaks to it.

Read from:
- the venue's API v1 documentation (exchange-developer.crypto.com/exchange/v1/docs, as mirrored
  in the public repository justrhoto/crypto-com-exchange-docs): rest-common-api-reference (the
  JSON-RPC request `{id, method, params, api_key, sig, nonce}`, the signature `HMAC-SHA256(method
  + id + api_key + parameter string + nonce)` with keys sorted and lists flattened, the nonce
  window of 60 s (40102), the answer `{id, method, code, result | message}` and the table of
  reason codes with their HTTP statuses), private-create-order (LIMIT and MARKET only,
  client_oid up to 36 characters, the nonce standing in for a missing one),
  rest-breaking-change-schedule and advanced-order-management (since 2025-12-17 trigger orders,
  STOP_LOSS, STOP_LIMIT, TAKE_PROFIT and TAKE_PROFIT_LIMIT with `ref_price`, are created, read
  and cancelled at `private/advanced/*`, with the same requests and answers as the plain
  endpoints), private-advanced-create-order (which side of the reference price each trigger
  type must rest on), private-advanced-get-open-orders, private-advanced-cancel-order,
  private-get-order-detail (by order_id or client_oid), private-user-balance, public-get-*;
- ccxt 4.5.90 `async_support/cryptocom.py` (`sign`, `params_to_string`, `handle_errors`, which
  raises on any `code` other than 0, `parse_order`, `parse_trade`, `parse_balance`,
  `create_order_request`) and its recorded requests and answers
  (ts/src/test/static/request|response/cryptocom.json) for the shapes of bodies and answers.

What the documentation leaves open is chosen here and named: the reason code for a trigger type
sent to the plain create-order (218 INVALID_ORDTYPE; a live answer reported publicly is 140001),
for a trigger on the wrong side of the price (229 INVALID_REF_PRICE), for a cancel of an order no
longer active (316 NO_ACTIVE_ORDER) and for a client_oid over 36 characters (40004). Trigger
orders fire on the last price here (the venue's default reference is the mark price).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qs

from tests.venues import core
from tests.venues.core import (
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
ROOT = "/exchange/v1/"
API_KEY, SECRET = "cdc-test-key", "cdc-test-secret"
CLIENT_OID_MAX = 36


def _p(method: str) -> tuple[str, str]:
    return ("POST", ROOT + method)


# (HTTP status, code, message) of each engine refusal: the documented reason codes
ERRORS: dict[str, tuple[int, int, str]] = {
    "symbol": (400, 209, "INVALID_INSTRUMENT"),
    "amount_step": (400, 213, "INVALID_ORDERQTY"),
    "min_amount": (500, 415, "BELOW_MIN_ORDER_SIZE"),
    "min_notional": (500, 415, "BELOW_MIN_ORDER_SIZE"),
    "price_step": (400, 308, "INVALID_PRICE"),
    "funds": (500, 306, "INSUFFICIENT_AVAILABLE_BALANCE"),
    "duplicate": (400, 204, "DUPLICATE_CLORDID"),
    "would_trigger": (400, 229, "INVALID_REF_PRICE"),
    "reduce_only": (400, 1110, "REDUCE_ONLY_REJECTED"),
    "not_found": (200, 40401, "NOT_FOUND"),
    "not_open": (500, 316, "NO_ACTIVE_ORDER"),
    "leverage": (400, 226, "INVALID_LEVERAGE"),
    "position_mode": (400, 40001, "BAD_REQUEST"),
}
# the venue's order types: the engine's kind, and whether it is a trigger (advanced) order
TYPES: dict[str, str] = {
    "MARKET": core.MARKET,
    "LIMIT": core.LIMIT,
    "STOP_LOSS": core.STOP,
    "TAKE_PROFIT": core.TAKE_PROFIT,
    "STOP_LIMIT": core.STOP_LIMIT,
    "TAKE_PROFIT_LIMIT": core.TAKE_PROFIT_LIMIT,
}
TRIGGER_TYPES = ("STOP_LOSS", "TAKE_PROFIT", "STOP_LIMIT", "TAKE_PROFIT_LIMIT")
STATUSES = {core.OPEN: "ACTIVE", core.FILLED: "FILLED", core.CANCELED: "CANCELED",
            core.REJECTED: "REJECTED"}  # fmt: skip


def param_string(value: Any, level: int = 0) -> str:
    """The documented parameter string: keys sorted, key + value, lists flattened, nested
    objects the same way down to level 3, null as "null"."""
    if level >= 3:
        return str(value)
    if isinstance(value, dict):
        out = ""
        for key in sorted(value):
            item = value[key]
            if isinstance(item, list):
                out += key + "".join(param_string(x, level + 1) for x in item)
            elif isinstance(item, dict):
                out += key + param_string(item, level + 1)
            else:
                out += key + ("null" if item is None else str(item))
        return out
    return "null" if value is None else str(value)


def signature(method: str, id_: str, api_key: str, params: dict[str, Any], nonce: str) -> str:
    payload = method + str(id_) + api_key + param_string(params) + str(nonce)
    return hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()


def _s(value: Decimal | None) -> str:
    return "0" if value is None else format(value.normalize(), "f")


def btc_usdt() -> MarketSpec:
    return MarketSpec(id="BTC_USDT", base="BTC", quote="USDT", tick=D("0.01"),
                      step=D("0.00001"), min_amount=D("0.00001"), min_notional=D(0),
                      bid=D("30000.00"), ask=D("30000.02"))  # fmt: skip


@dataclass
class CryptoComSpot(FakeVenue):
    """Crypto.com Exchange spot, API v1: plain orders at private/*, trigger orders apart at
    private/advanced/*; a private request is refused unless signed with `SECRET` and its nonce is
    within `nonce_window_ms` of the venue's clock."""

    OPS: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        "create": (_p("private/create-order"), _p("private/advanced/create-order")),
        "fetch": (
            _p("private/get-order-detail"),
            _p("private/advanced/get-order-detail"),
            _p("private/get-order-history"),
            _p("private/advanced/get-order-history"),
        ),
        "cancel": (_p("private/cancel-order"), _p("private/advanced/cancel-order")),
        "open_orders": (_p("private/get-open-orders"), _p("private/advanced/get-open-orders")),
    }
    FEE_RATE: ClassVar[Decimal] = D("0.0025")  # the venue's base spot taker rate (ccxt's table)

    specs: list[MarketSpec] = field(default_factory=lambda: [btc_usdt()])
    balances: dict[str, list[Decimal]] = field(
        default_factory=lambda: {"USDT": [D(100_000), D(0)], "BTC": [D(0), D(0)]}
    )
    nonce_window_ms: int = 60_000

    # --- the dialect's entry points ------------------------------------------------------------

    def client_id_of(self, request: Request) -> str | None:
        try:
            params = json.loads(request.body).get("params") or {}
        except ValueError:
            return None
        found = params.get("client_oid")
        return str(found) if found is not None else None

    def refused(self, refusal: Refusal) -> Answer:
        status, code, message = ERRORS[refusal.reason]
        return self._error(status, code, message)

    def rate_limited(self) -> Answer:
        return self._error(429, 42901, "TOO_MANY_REQUESTS")

    def route(self, request: Request) -> Answer:
        if not request.path.startswith(ROOT):
            raise VenueError(404, "<html><body>404 Not Found</body></html>")
        method = request.path[len(ROOT) :]
        if request.method == "GET" and method.startswith("public/"):
            query = {k: v[-1] for k, v in parse_qs(request.query).items()}
            return self._public(method, query)
        if request.method == "POST" and method.startswith("private/"):
            body = self._authenticated(method, request.body)
            return self._private(method, body.get("params") or {})
        raise VenueError(400, self._body(40002, "METHOD_NOT_FOUND", method))

    # --- envelopes -----------------------------------------------------------------------------

    def _body(self, code: int, message: str, method: str | None = None) -> dict[str, Any]:
        mine = self._local.__dict__
        return {"id": mine.get("id", -1), "method": method or mine.get("method", ""),
                "code": code, "message": message}  # fmt: skip

    def _error(self, status: int, code: int, message: str) -> Answer:
        return status, self._body(code, message)

    def _ok(self, result: dict[str, Any]) -> Answer:
        mine = self._local.__dict__
        return 200, {"id": mine.get("id", -1), "method": mine.get("method", ""), "code": 0,
                     "result": result}  # fmt: skip

    def _authenticated(self, method: str, text: str) -> dict[str, Any]:
        """The request, once its signature and nonce are the venue's to accept."""
        self._local.method = method
        try:
            body: dict[str, Any] = json.loads(text)
        except ValueError:
            raise VenueError(400, self._body(40003, "INVALID_REQUEST")) from None
        self._local.id = int(body.get("id", -1))
        params, nonce = body.get("params") or {}, str(body.get("nonce", ""))
        if body.get("method") != method or not isinstance(params, dict):
            raise VenueError(400, self._body(40003, "INVALID_REQUEST"))
        if not nonce.isdigit() or abs(now_ms() - int(nonce)) > self.nonce_window_ms:
            raise VenueError(400, self._body(40102, "INVALID_NONCE"))
        api_key = str(body.get("api_key", ""))
        expected = signature(method, str(body.get("id")), api_key, params, nonce)
        if api_key != API_KEY or not hmac.compare_digest(expected, str(body.get("sig", ""))):
            raise VenueError(401, self._body(40101, "UNAUTHORIZED"))
        self._local.nonce = nonce
        return body

    # --- public --------------------------------------------------------------------------------

    def _public(self, method: str, query: dict[str, str]) -> Answer:
        self._local.method, self._local.id = method, -1
        if method == "public/get-instruments":
            return self._ok({"data": [self._instrument(s) for s in self.markets.values()]})
        spec = self.spec(query.get("instrument_name", ""))
        bid, ask = self.books[spec.id]
        if method == "public/get-book":
            book = {"bids": [[_s(bid), "5.00000", "1"]], "asks": [[_s(ask), "5.00000", "1"]],
                    "t": now_ms()}  # fmt: skip
            return self._ok({"depth": int(query.get("depth", 50)), "data": [book],
                             "instrument_name": spec.id})  # fmt: skip
        if method == "public/get-tickers":
            last = self.last[spec.id]
            return self._ok({"data": [{"i": spec.id, "h": _s(last), "l": _s(last),
                                       "a": _s(last), "v": "0", "vv": "0", "c": "0",
                                       "b": _s(bid), "k": _s(ask), "t": now_ms()}]})  # fmt: skip
        raise VenueError(400, self._body(40002, "METHOD_NOT_FOUND"))

    def _instrument(self, spec: MarketSpec) -> dict[str, Any]:
        return {
            "symbol": spec.id, "inst_type": "CCY_PAIR", "display_name": f"{spec.base}/{spec.quote}",
            "base_ccy": spec.base, "quote_ccy": spec.quote,
            "quote_decimals": -spec.tick.as_tuple().exponent,  # type: ignore[operator]
            "quantity_decimals": -spec.step.as_tuple().exponent,  # type: ignore[operator]
            "price_tick_size": _s(spec.tick), "qty_tick_size": _s(spec.step),
            "max_leverage": "50", "tradable": True, "expiry_timestamp_ms": 0,
            "beta_product": False, "margin_buy_enabled": False, "margin_sell_enabled": False,
        }  # fmt: skip

    # --- private -------------------------------------------------------------------------------

    def _private(self, method: str, params: dict[str, Any]) -> Answer:
        advanced = method.startswith("private/advanced/")
        name = method.removeprefix("private/advanced/").removeprefix("private/")
        with self.lock:
            if name == "create-order":
                return self._create(params, advanced)
            if name == "cancel-order":
                order = self.cancel(self._find(params, advanced))
                return self._ok({"client_oid": order.client_id, "order_id": order.id})
            if name == "get-order-detail":
                return self._ok(self._order(self._find(params, advanced)))
            if name == "get-open-orders":
                found = self._orders(params, advanced, open_=True)
                return self._ok({"data": [self._order(o) for o in found]})
            if name == "get-order-history":
                found = self._orders(params, advanced, open_=False)
                return self._ok({"data": [self._order(o) for o in found]})
            if name == "get-trades" and not advanced:
                return self._ok({"data": self._trades(params)})
            if name == "user-balance" and not advanced:
                return self._ok({"data": [self._balance()]})
            if name == "get-currency-networks" and not advanced:
                return self._ok({"update_time": now_ms(), "currency_map": {}})
        raise VenueError(400, self._body(40002, "METHOD_NOT_FOUND"))

    def _create(self, params: dict[str, Any], advanced: bool) -> Answer:
        kind_name = str(params.get("type", ""))
        if kind_name not in TYPES or (kind_name in TRIGGER_TYPES) != advanced:
            # plain create-order takes LIMIT and MARKET, the advanced one trigger types only
            raise VenueError(400, self._body(218, "INVALID_ORDTYPE"))
        cid = str(params.get("client_oid") or self._local.nonce)
        if len(cid) > CLIENT_OID_MAX:
            raise VenueError(400, self._body(40004, "MISSING_OR_INVALID_ARGUMENT"))
        try:
            amount = D(str(params["quantity"]))
            price = D(str(params["price"])) if "price" in params else None
            trigger = D(str(params["ref_price"])) if "ref_price" in params else None
        except (KeyError, ArithmeticError):
            raise VenueError(400, self._body(40004, "MISSING_OR_INVALID_ARGUMENT")) from None
        kind = TYPES[kind_name]
        needs_price = kind in (core.LIMIT, core.STOP_LIMIT, core.TAKE_PROFIT_LIMIT)
        if (price is None) == needs_price or (trigger is None) == (kind_name in TRIGGER_TYPES):
            raise VenueError(400, self._body(40004, "MISSING_OR_INVALID_ARGUMENT"))
        order = Order(self.next_id(), cid, str(params.get("instrument_name")),
                      str(params.get("side", "")).lower(), kind, amount, price, trigger,
                      extra={"type": kind_name, "advanced": advanced})  # fmt: skip
        if order.side not in ("buy", "sell"):
            raise VenueError(400, self._body(220, "INVALID_SIDE"))
        order.reduce_only = "REDUCE_ONLY" in (params.get("exec_inst") or [])
        self.place(order)
        return self._ok({"client_oid": order.client_id, "order_id": order.id})

    def _find(self, params: dict[str, Any], advanced: bool) -> Order:
        """The order by order_id or client_oid, among those the endpoint keeps."""
        order_id, cid = params.get("order_id"), params.get("client_oid")
        for order in self.orders.values():
            if bool(order.extra.get("advanced")) != advanced:
                continue
            if (order_id is not None and order.id == str(order_id)) or (
                order_id is None and cid is not None and order.client_id == str(cid)
            ):
                return order
        raise Refusal("not_found", str(order_id or cid))

    def _orders(self, params: dict[str, Any], advanced: bool, *, open_: bool) -> list[Order]:
        symbol = params.get("instrument_name")
        start, end = int(params.get("start_time") or 0), int(params.get("end_time") or 2**62)
        found = [
            o for o in self.orders.values()
            if bool(o.extra.get("advanced")) == advanced and (o.status == core.OPEN) == open_
            and (symbol is None or o.symbol == symbol)
            and (open_ or start <= o.updated_ms <= end)
        ]  # fmt: skip
        found.sort(key=lambda o: o.updated_ms, reverse=True)
        return found[: int(params.get("limit") or 100)]

    def _order(self, order: Order) -> dict[str, Any]:
        spec = self.markets[order.symbol]
        created = order.created_ms
        shown: dict[str, Any] = {
            "account_id": "52e7c00f-1324-5a6z-bfgt-de445bde21a5",
            "order_id": order.id, "client_oid": order.client_id,
            "order_type": order.extra.get("type", order.kind.upper()),
            "time_in_force": "GOOD_TILL_CANCEL", "side": order.side.upper(),
            "exec_inst": ["REDUCE_ONLY"] if order.reduce_only else [],
            "quantity": _s(order.amount),
            "order_value": _s(order.amount * (order.price or order.trigger or D(0))),
            "maker_fee_rate": _s(self.FEE_RATE), "taker_fee_rate": _s(self.FEE_RATE),
            "avg_price": _s(order.average), "cumulative_quantity": _s(order.filled),
            "cumulative_value": _s(order.cost), "cumulative_fee": _s(order.fee),
            "status": STATUSES[order.status], "update_user_id": "fd797356",
            "order_date": datetime.fromtimestamp(created / 1000, UTC).date().isoformat(),
            "instrument_name": spec.id, "fee_instrument_name": spec.quote,
            "create_time": created, "create_time_ns": f"{created}000000",
            "update_time": order.updated_ms,
        }  # fmt: skip
        if order.price is not None:
            shown["limit_price"] = _s(order.price)
        if order.trigger is not None:
            shown.update(ref_price=_s(order.trigger), ref_price_type="MARK_PRICE")
        return shown

    def _trades(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        symbol, start = params.get("instrument_name"), int(params.get("start_time") or 0)
        shown = []
        for trade in self.trades:
            if (symbol is not None and trade.symbol != symbol) or trade.at_ms < start:
                continue
            order = self.orders[trade.order_id]
            shown.append({
                "account_id": "52e7c00f-1324-5a6z-bfgt-de445bde21a5",
                "event_date": datetime.fromtimestamp(trade.at_ms / 1000, UTC).date().isoformat(),
                "journal_type": "TRADING", "side": trade.side.upper(),
                "instrument_name": trade.symbol, "fees": _s(-trade.fee),
                "trade_id": trade.id, "trade_match_id": f"46116860{trade.id}",
                "create_time": trade.at_ms, "traded_price": _s(trade.price),
                "traded_quantity": _s(trade.amount),
                "fee_instrument_name": self.markets[trade.symbol].quote,
                "client_oid": order.client_id,
                "taker_side": "MAKER" if trade.maker else "TAKER",
                "order_id": trade.order_id, "create_time_ns": f"{trade.at_ms}000000",
            })  # fmt: skip
        return shown[-int(params.get("limit") or 100) :]

    def _balance(self) -> dict[str, Any]:
        positions = [
            {"instrument_name": asset, "quantity": _s(free + locked),
             "reserved_qty": _s(locked), "max_withdrawal_balance": _s(free),
             "market_value": _s(free + locked), "collateral_eligible": "true",
             "haircut": "0", "collateral_amount": _s(free + locked)}
            for asset, (free, locked) in sorted(self.balances.items())
        ]  # fmt: skip
        free, locked = self.balances.get("USDT", [D(0), D(0)])
        cash = [free, free + locked]
        return {
            "total_available_balance": _s(cash[0]), "total_margin_balance": _s(cash[1]),
            "total_initial_margin": "0", "total_position_im": "0", "total_haircut": "0",
            "total_maintenance_margin": "0", "total_position_cost": "0",
            "total_cash_balance": _s(cash[1]), "total_collateral_value": _s(cash[1]),
            "total_session_unrealized_pnl": "0", "instrument_name": "USD",
            "total_session_realized_pnl": "0", "is_liquidating": False,
            "total_effective_leverage": "0", "position_limit": "3000000",
            "used_position_limit": "0", "position_balances": positions,
        }  # fmt: skip


def short_window() -> CryptoComSpot:
    """The venue with a 2 s nonce window, so that a lost create is sent again within a test."""
    return CryptoComSpot(nonce_window_ms=2000)
