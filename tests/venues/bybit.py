"""Bybit v5 with a unified trading account (UTA 2.0): spot (category=spot) and USDT perpetuals
(category=linear) on one fake and one wallet (accountType=UNIFIED), as ccxt 4.5.90's `bybit`
speaks to them.

Read from Bybit's v5 API docs (bybit-exchange.github.io/docs/v5): guide (authentication),
error codes, market/instrument, market/orderbook, market/tickers, market/time,
order/create-order, order/cancel-order, order/open-order (/v5/order/realtime), order/order-list
(/v5/order/history), order/execution (/v5/execution/list), account/wallet-balance,
account/account-info, user/apikey-info, position (list, leverage, position-mode); from ccxt's
ts/src/test/static/request/bybit.json (createOrder: spot triggerPrice -> orderFilter=StopOrder,
swap stopLossPrice/takeProfitPrice -> triggerDirection + reduceOnly, market buy with
marketUnit=baseCoin; cancelOrder with orderFilter Order|StopOrder on spot; fetchOpenOrders,
fetchClosedOrders, fetchBalance accountType=UNIFIED, fetchPositions settleCoin=USDT,
setLeverage, setPositionMode mode 0|3) and static/response/bybit.json (the order rows of
realtime and history, spot without `tpslMode`, linear with it, cumFeeDetail; executions;
positions; the UNIFIED wallet with availableToWithdraw ""); and from ccxt 4.5.90's bybit.py
(sign, handle_errors and its exceptions table, is_unified_enabled, the parse_* methods).

What it holds to:
- Private requests are signed as Bybit does: X-BAPI-SIGN = hex HMAC-SHA256 of timestamp +
  api key + recv window + (the query string | the JSON body). An unknown key answers 10003, a
  wrong signature 10004, a timestamp outside the recv window 10002. Every answer is the
  {retCode, retMsg, result, retExtInfo, time} envelope with HTTP 200, errors and 10006 (rate
  limit) too.
- orderLinkId: 1-36 of letters, digits, - and _; re-used: 170141 (spot), 110072 (linear).
- Conditional orders: spot orderFilter=StopOrder (or tpslOrder), its direction from the
  trigger against the last price; linear triggerPrice + triggerDirection (1 rising, 2
  falling; 110092/110093 when the price is already past it). /v5/order/realtime and history
  list every kind unless orderFilter says (UTA); a spot cancel looks among orderFilter's kind
  only (Order when not given). Realtime by orderId/orderLinkId answers closed orders too (the
  last 500); without them, open ones only (openOnly=0); history: closed ones only.
- Precision and minimums: spot 170137, 170134, 170136, 170140; linear 10001 and 110094.
- Linear: contract size 1 (ccxt's for linear), leverage (/v5/position/set-leverage, 110043
  when unchanged), one-way mode (positionIdx 0; /v5/position/switch-mode, 110025 when
  unchanged, 110024 with a position open), reduce-only 110017.
Simplified: fees are charged in the quote coin unless `spot_fee_in_base` (Bybit takes a spot
buy's fee in the coin bought; tests/integration/test_venue_bybit.py trades so), and a spot
StopOrder locks its coins when placed (Bybit locks them when it triggers).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from tests.venues.bybit_shapes import (
    ERRORS,
    LINEAR,
    SPOT,
    account_info,
    api_key_info,
    decimal,
    envelope,
    execution_row,
    failure,
    instrument,
    linear_btc,
    ok,
    order_row,
    position_row,
    spot_btc,
    symbol_of,
    text,
    wallet,
    wallet_coin,
)
from tests.venues.core import (
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
API_KEY, SECRET = "bybit-test-key", "bybit-test-secret"
LINK_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")
WEEK_MS = 7 * 24 * 3600 * 1000
Params = dict[str, Any]


@dataclass
class BybitFake(FakeVenue):
    """Bybit's v5 dialect over the shared engine; market ids are "<category>:<symbol>"."""

    OPS: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        # one endpoint reads an order and lists the open ones: "fetch" (listed first) is both
        "fetch": (("GET", "/v5/order/realtime"), ("GET", "/v5/order/history")),
        "create": (("POST", "/v5/order/create"),),
        "cancel": (("POST", "/v5/order/cancel"),),
        "open_orders": (("GET", "/v5/order/realtime"),),
    }
    api_key: str = API_KEY
    secret: str = SECRET
    seen: list[tuple[str, Params]] = field(default_factory=list)  # each path asked, its params
    # Bybit takes a spot buy's fee in the coin bought; the engine's way (quote) by default
    spot_fee_in_base: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        for spec in self.specs:
            if spec.swap:
                self.leverage.setdefault(spec.id, 10)  # Bybit's default for a new symbol
        self._routes: dict[tuple[str, str], Callable[[Params], Answer]] = {
            ("GET", "/v5/market/time"): self._time,
            ("GET", "/v5/market/instruments-info"): self._instruments,
            ("GET", "/v5/market/orderbook"): self._orderbook,
            ("GET", "/v5/market/tickers"): self._tickers,
            ("GET", "/v5/user/query-api"): lambda _: ok(api_key_info(self.api_key)),
            ("GET", "/v5/account/info"): lambda _: ok(account_info()),
            ("GET", "/v5/asset/coin/query-info"): self._coins,
            ("GET", "/v5/account/wallet-balance"): self._wallet,
            ("POST", "/v5/order/create"): self._create,
            ("POST", "/v5/order/cancel"): self._cancel,
            ("GET", "/v5/order/realtime"): self._realtime,
            ("GET", "/v5/order/history"): self._history,
            ("GET", "/v5/execution/list"): self._executions,
            ("GET", "/v5/position/list"): self._positions,
            ("POST", "/v5/position/set-leverage"): self._set_leverage,
            ("POST", "/v5/position/switch-mode"): self._switch_mode,
        }

    # --- the dialect -------------------------------------------------------------------------

    def route(self, request: Request) -> Answer:
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            return 404, "Not Found"
        if not request.path.startswith("/v5/market/"):
            self._authenticate(request)
        params = self._params(request)
        with self.lock:
            self.seen.append((request.path, params))
        try:
            return handler(params)
        except Refusal as refusal:
            raise self._error(refusal, str(params.get("category", LINEAR))) from None

    def refused(self, refusal: Refusal) -> Answer:
        error = self._error(refusal, LINEAR)
        return error.status, error.body

    def rate_limited(self) -> Answer:
        return 200, envelope(10006, "Too many visits!", {})

    def client_id_of(self, request: Request) -> str | None:
        try:
            link = json.loads(request.body or "{}").get("orderLinkId")
        except (ValueError, AttributeError):
            return None
        return str(link) if link else None

    @staticmethod
    def _error(refusal: Refusal, category: str) -> VenueError:
        spot, linear = ERRORS[refusal.reason]
        return failure(*(spot if category == SPOT else linear))

    def _authenticate(self, request: Request) -> None:
        headers = request.headers
        key = headers.get("x-bapi-api-key", "")
        stamp = headers.get("x-bapi-timestamp", "")
        window = headers.get("x-bapi-recv-window", "5000")
        if key != self.api_key:
            raise failure(10003, "API key is invalid.")
        now = now_ms()
        if not (stamp.isdigit() and window.isdigit()) or not (
            now - int(window) <= int(stamp) < now + 1000
        ):
            raise failure(10002, "invalid request, please check your server timestamp or"
                          f" recv_window param. req_timestamp[{stamp}],server_timestamp[{now}],"
                          f"recv_window[{window}]")  # fmt: skip
        signed = request.body if request.method == "POST" else request.query
        origin = stamp + key + window + signed
        expected = hmac.new(self.secret.encode(), origin.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("x-bapi-sign", "")):
            raise failure(10004, f"error sign! origin_string[{origin}]")

    @staticmethod
    def _params(request: Request) -> Params:
        if request.method != "POST":
            return dict(parse_qsl(request.query))
        try:
            found = json.loads(request.body or "{}")
        except ValueError:
            raise failure(10001, "request body is not valid JSON") from None
        if not isinstance(found, dict):
            raise failure(10001, "request body is not a JSON object")
        return found

    def _spec(self, params: Params) -> MarketSpec:
        category = params.get("category")
        if category not in (SPOT, LINEAR):
            raise failure(10001, f"Illegal category {category}")
        return self.spec(f"{category}:{params.get('symbol')}")

    def _in(self, category: object, params: Params) -> list[MarketSpec]:
        """The markets of `category` the query names (by symbol, base or settle coin)."""
        symbol, base = params.get("symbol"), params.get("baseCoin")
        settle = params.get("settleCoin")
        return [
            s for s in self.specs
            if s.id.startswith(f"{category}:") and symbol in (None, symbol_of(s))
            and base in (None, s.base) and settle in (None, s.quote)
        ]  # fmt: skip

    # --- public ------------------------------------------------------------------------------

    def _time(self, params: Params) -> Answer:
        now = now_ms()
        return ok({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})

    def _instruments(self, params: Params) -> Answer:
        category = params.get("category")
        listed = [] if params.get("status") == "PreLaunch" else self._in(category, params)
        return ok({"category": category, "list": [instrument(spec) for spec in listed],
                   "nextPageCursor": ""})  # fmt: skip

    def _orderbook(self, params: Params) -> Answer:
        spec = self._spec(params)
        with self.lock:
            bid, ask = self.books[spec.id]
        return ok({"s": symbol_of(spec), "b": [[text(bid), "5"]], "a": [[text(ask), "5"]],
                   "ts": now_ms(), "u": 1, "seq": 1})  # fmt: skip

    def _tickers(self, params: Params) -> Answer:
        rows = []
        with self.lock:
            for spec in self._in(params.get("category"), params):
                (bid, ask), last = self.books[spec.id], self.last[spec.id]
                rows.append({"symbol": symbol_of(spec), "lastPrice": text(last),
                             "bid1Price": text(bid), "ask1Price": text(ask), "bid1Size": "5",
                             "ask1Size": "5", "volume24h": "0", "turnover24h": "0"})  # fmt: skip
        return ok({"category": params.get("category"), "list": rows})

    # --- the account -------------------------------------------------------------------------

    def _coins(self, params: Params) -> Answer:
        coins = sorted({s.base for s in self.specs} | {s.quote for s in self.specs})
        return ok({"rows": [{"name": c, "coin": c, "remainAmount": "1000000", "chains": []}
                            for c in coins]})  # fmt: skip

    def _wallet(self, params: Params) -> Answer:
        if params.get("accountType") != "UNIFIED":
            raise failure(10001, "accountType only support UNIFIED.")
        coins = []
        with self.lock:
            for asset, (free, locked) in sorted(self.balances.items()):
                held = {True: D(0), False: D(0)}  # by a swap's order (margin), by a spot one
                for order in self.orders.values():
                    what, amount = order.extra.get("_locked", ("", D(0)))
                    if order.status == OPEN and what == asset:
                        held[self.markets[order.symbol].swap] += amount
                coins.append(wallet_coin(asset, free + locked, held[False], held[True],
                                         self.margin_used(asset)))  # fmt: skip
        return ok(wallet(coins))

    # --- orders ------------------------------------------------------------------------------

    def _create(self, params: Params) -> Answer:
        spec = self._spec(params)
        spot = not spec.swap
        link = str(params.get("orderLinkId") or "")
        if link and not LINK_ID.fullmatch(link):
            raise failure(10001, "orderLinkId is invalid: up to 36 letters, digits, - or _")
        side = {"Buy": "buy", "Sell": "sell"}.get(str(params.get("side")))
        qty, price = decimal(params.get("qty")), decimal(params.get("price"))
        if side is None:
            raise failure(170117 if spot else 10001, "Invalid side.")
        if params.get("orderType") not in ("Market", "Limit"):
            raise failure(170116 if spot else 10001, "Invalid orderType.")
        if qty is None or qty <= 0 or (params["orderType"] == "Limit" and price is None):
            raise failure(170130 if spot else 10001, "Qty or price invalid.")
        with self.lock:
            order = self._order(spec, params, link, side, qty, price)
            if spec.swap:
                self._check_linear(spec, order)
            placed = self.place(order)
        return ok({"orderId": placed.id, "orderLinkId": placed.client_id})

    def _order(self, spec: MarketSpec, params: Params, link: str, side: str, qty: Decimal,
               price: Decimal | None) -> Order:  # fmt: skip
        """The engine's order for a create: its kind, amount in coins, and Bybit's fields."""
        last, market = self.last[spec.id], params["orderType"] == "Market"
        trigger = decimal(params.get("triggerPrice"))
        amount, unit, index = qty, "", int(params.get("positionIdx") or 0)
        if spec.swap:
            kind_filter = "Order" if trigger is None else "StopOrder"
            direction = int(params.get("triggerDirection") or 0)
            if trigger is not None and direction not in (1, 2):
                raise failure(10001, "TriggerDirection invalid")
            if (index != 0) != self.hedge_mode:
                raise Refusal("position_mode")
        else:
            kind_filter = str(params.get("orderFilter") or "Order")
            if kind_filter not in ("Order", "StopOrder", "tpslOrder") or (
                (kind_filter == "Order") != (trigger is None)
            ):
                raise failure(170202, "Invalid orderFilter parameter.")
            # a spot trigger's direction: the side of the last price it was placed on
            direction = 0 if trigger is None else (1 if trigger > last else 2)
            if market:  # unified account: a market buy counts quote coins unless told
                default = "quoteCoin" if side == "buy" else "baseCoin"
                unit = str(params.get("marketUnit") or default)
            if unit == "quoteCoin":
                bid, ask = self.books[spec.id]
                amount = (qty / (ask if side == "buy" else bid)).quantize(spec.step, ROUND_DOWN)
        kind = MARKET if market else LIMIT
        if trigger is not None:
            stop = (direction == 1) == (side == "buy")  # against the position it protects
            kind = {MARKET: STOP if stop else TAKE_PROFIT,
                    LIMIT: STOP_LIMIT if stop else TAKE_PROFIT_LIMIT}[kind]  # fmt: skip
        order_id = str(uuid.uuid4()) if spec.swap else str(10**18 + int(self.next_id()))
        # spot orders get an orderLinkId when none is given; linear ones keep it empty
        link = link or ("" if spec.swap else str(int(order_id) + 1))
        in_force = "IOC" if market else str(params.get("timeInForce") or "GTC")
        extra = {"filter": kind_filter, "qty": text(qty), "marketUnit": unit,
                 "positionIdx": index, "direction": direction, "lastPriceOnCreated": text(last),
                 "timeInForce": in_force}  # fmt: skip
        # reduceOnly: linear, inverse and option only (a spot order ignores it)
        reduce_only = spec.swap and params.get("reduceOnly") is True
        return Order(order_id, link, spec.id, side, kind, amount, None if market else price,
                     trigger, reduce_only, extra=extra)  # fmt: skip

    def _check_linear(self, spec: MarketSpec, order: Order) -> None:
        """What the linear engine refuses with its own codes before the shared checks."""
        last = self.last[spec.id]
        if order.trigger is not None and self._fires(order):
            rising = order.extra["direction"] == 1
            code, expected, sign = (110092, "Rising", "<=") if rising else (110093, "Falling", ">=")
            raise failure(code, f"expect {expected}, but trigger_price[{text(order.trigger)}]"
                          f" {sign} current[{text(last)}]")  # fmt: skip
        held = self.positions.get(spec.id)
        if (
            order.reduce_only
            and held
            and held.amount
            and (held.amount > 0) == (order.side == "buy")
        ):
            raise failure(110017, "Reduce-only order has same side with current position")

    def _find(self, spec: MarketSpec, params: Params) -> Order:
        """The order a cancel names: by orderId first, else by orderLinkId (Bybit's rule)."""
        order_id, link = params.get("orderId"), params.get("orderLinkId")
        # a spot cancel looks among one kind: orderFilter's, Order when not given
        kind_filter = params.get("orderFilter") or "Order"
        for order in self.orders.values():
            named = order.id == order_id if order_id else bool(link) and order.client_id == link
            if (order.symbol == spec.id and named
                    and (spec.swap or order.extra["filter"] == kind_filter)):  # fmt: skip
                return order
        raise Refusal("not_found", str(order_id or link))

    def _cancel(self, params: Params) -> Answer:
        spec = self._spec(params)
        with self.lock:
            order = self.cancel(self._find(spec, params))
            order.extra["cancelType"] = "CancelByUser"
        return ok({"orderId": order.id, "orderLinkId": order.client_id})

    def _listed(self, params: Params, closed: bool | None) -> list[dict[str, Any]]:
        """The orders a realtime or history query names, newest first; `closed`: None for
        any status (asked by id), else closed or open ones only."""
        markets = {s.id for s in self._in(params.get("category"), params)}
        order_id, link = params.get("orderId"), params.get("orderLinkId")
        kind_filter, status = params.get("orderFilter"), params.get("orderStatus")
        since = int(params.get("startTime") or now_ms() - WEEK_MS)
        rows = []
        with self.lock:
            for order in sorted(self.orders.values(), key=lambda o: o.created_ms, reverse=True):
                row = order_row(order, self.markets[order.symbol])
                if (
                    order.symbol in markets
                    and order_id in (None, order.id)
                    and link in (None, order.client_id)
                    and (closed is None or (order.status != OPEN) == closed)
                    and kind_filter in (None, order.extra["filter"])
                    and status in (None, row["orderStatus"])
                    and order.created_ms >= since
                ):
                    rows.append(row)
        return rows[: min(int(params.get("limit") or 20), 50)]

    def _realtime(self, params: Params) -> Answer:
        category = params.get("category")
        if category == LINEAR and not {"symbol", "baseCoin", "settleCoin"} & params.keys():
            raise failure(10001, "Missing some parameters that must be filled in, symbol or"
                          " settleCoin or baseCoin")  # fmt: skip
        by_id = bool({"orderId", "orderLinkId"} & params.keys())
        closed = None if by_id else params.get("openOnly", "0") != "0"
        return ok({"category": category, "list": self._listed(params, closed),
                   "nextPageCursor": ""})  # fmt: skip

    def _history(self, params: Params) -> Answer:
        return ok({"category": params.get("category"), "list": self._listed(params, True),
                   "nextPageCursor": ""})  # fmt: skip

    def _executions(self, params: Params) -> Answer:
        markets = {s.id for s in self._in(params.get("category"), params)}
        since = int(params.get("startTime") or now_ms() - WEEK_MS)
        rows = []
        with self.lock:
            for trade in sorted(self.trades, key=lambda t: t.at_ms, reverse=True):
                order = self.orders[trade.order_id]
                if (trade.symbol in markets and trade.at_ms >= since
                        and params.get("orderId") in (None, order.id)):  # fmt: skip
                    spec = self.markets[trade.symbol]
                    rows.append(execution_row(trade, order, spec, self.FEE_RATE))
        rows = rows[: min(int(params.get("limit") or 50), 100)]
        return ok({"category": params.get("category"), "list": rows, "nextPageCursor": ""})

    def _settle_spot(self, spec: MarketSpec, order: Order, amount: Decimal, value: Decimal,
                     fee: Decimal) -> None:  # fmt: skip
        if not (self.spot_fee_in_base and order.side == "buy"):
            super()._settle_spot(spec, order, amount, value, fee)
            return
        in_base = amount * self.FEE_RATE  # instead of the quote fee the engine counted
        order.fee += in_base - fee
        order.extra["feeCoin"] = spec.base
        self.trades[-1].fee = in_base
        super()._settle_spot(spec, order, amount, value, D(0))
        self._move(spec.base, -in_base)

    # --- positions ---------------------------------------------------------------------------

    def _positions(self, params: Params) -> Answer:
        if params.get("category") != LINEAR:
            raise failure(10001, "Illegal category")
        if not {"symbol", "settleCoin"} & params.keys():
            raise failure(10001, "Missing some parameters that must be filled in, symbol or"
                          " settleCoin")  # fmt: skip
        rows = []
        with self.lock:
            for spec in self._in(LINEAR, params):
                held = self.positions.get(spec.id)
                amount, entry = (held.amount, held.entry) if held else (D(0), D(0))
                side = "" if not amount else ("Buy" if amount > 0 else "Sell")
                lev, mark = self.leverage.get(spec.id, 10), self.last[spec.id]
                if not self.hedge_mode:
                    rows.append(position_row(spec, 0, side, abs(amount), entry, lev, mark))
                    continue
                for index, leg in ((1, "Buy"), (2, "Sell")):
                    size = abs(amount) if side == leg else D(0)
                    rows.append(position_row(spec, index, leg if size else "", size,
                                             entry if size else D(0), lev, mark))  # fmt: skip
        return ok({"category": LINEAR, "list": rows, "nextPageCursor": ""})

    def _set_leverage(self, params: Params) -> Answer:
        if params.get("category") != LINEAR:
            raise failure(10001, "Illegal category")
        spec = self._spec(params)
        buy, sell = decimal(params.get("buyLeverage")), decimal(params.get("sellLeverage"))
        if buy is None or buy != sell or not 1 <= buy <= spec.max_leverage or buy % 1:
            raise Refusal("leverage", f"{buy} {sell}")
        with self.lock:
            if self.leverage.get(spec.id) == int(buy):
                raise failure(110043, "Set leverage not modified")
            self.leverage[spec.id] = int(buy)
        return ok({})

    def _switch_mode(self, params: Params) -> Answer:
        """mode 0: one-way (merged single position), 3: hedge (both sides)."""
        if params.get("category") != LINEAR or str(params.get("mode")) not in ("0", "3"):
            raise failure(10001, "params error: category or mode")
        hedge = str(params["mode"]) == "3"
        with self.lock:
            if hedge == self.hedge_mode:
                raise failure(110025, "Position mode is not modified")
            if any(p.amount for p in self.positions.values()):
                raise failure(110024, "You have existing positions, so position mode cannot be"
                              " switched")  # fmt: skip
            if any(o.status == OPEN and self.markets[o.symbol].swap for o in self.orders.values()):
                raise failure(110028, "You have existing open orders, so position mode cannot"
                              " be switched")  # fmt: skip
            self.hedge_mode = hedge
        return ok({})


def bybit(usdt: int = 100_000) -> BybitFake:
    """A unified account holding `usdt`, trading BTCUSDT spot and the BTCUSDT perpetual."""
    return BybitFake(specs=[spot_btc(), linear_btc()], balances={"USDT": [D(usdt), D(0)]})
