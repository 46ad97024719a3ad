"""BingX USDT-M perpetual swaps ("swap v2", ccxt `bingx`) on the shared engine.

Read from, and answering what they show:
- BingX's swap API docs (https://bingx-api.github.io/docs/#/en-us/swapV2/, as mirrored in
  BingX-API/BingX-swap-api-v2-doc and rosssaunders/coincise docs/bingx/usdt_futures): the
  envelope `{"code": 0, "msg": "", "data": ...}`, business errors answered with HTTP 200 and a
  code; the signature (HMAC-SHA256 of the parameter string as sent, `signature` appended, the
  key in `X-BX-APIKEY`, `timestamp` within 5000 ms or `recvWindow`); order types MARKET, LIMIT,
  STOP_MARKET / TAKE_PROFIT_MARKET (a position's stop-loss and take-profit: "the position needs
  to be opened first", and "the accumulative quantity of the pending stop loss [take profit]
  orders cannot be greater than the quantity of open positions"), STOP / TAKE_PROFIT,
  TRIGGER_MARKET / TRIGGER_LIMIT; `positionSide` BOTH in one-way mode (109400 otherwise);
  `reduceOnly`; `clientOrderId` of 1-40 characters that "the system will convert to
  lowercase", a repeat refused (101481); error codes 100001, 100413, 100421, 80014, 80016,
  80018, 101204, 101205, 101290, 101400, 101414, 101481, 109400, 109414, 110411-110413, 100410.
- ccxt 4.5.90's bingx.py: the endpoints it calls (quote/contracts only in sandbox mode; spot
  symbols, Coin-M contracts and the wallets' coin list too in live mode), the request it builds
  (all params in the query string, `clientOrderID`, `stopPrice`, `positionSide=BOTH`), the
  answer shapes in its comments, and its error table (`exceptions['exact']`).
- ccxt's ts/src/test/static/request/bingx.json (createOrder swap market/limit/STOP_MARKET/
  TAKE_PROFIT_MARKET, cancelOrder, fetchOpenOrders, fetchClosedOrders -> trade/allOrders,
  fetchBalance -> spot/v1/account/balance vs swap user/balance, fetchPositions) and
  static/response/bingx.json (market shapes).

The answers' shapes are in tests/venues/bingx_shapes.py. Where the docs name a code but not
its exact text the message is ours. Not modelled: the place-order docs' "clientOrderId only
supports LIMIT/MARKET order type" (the query and cancel docs take it on any order, ccxt sends
it on every type: this fake keeps it on every type, an assumption a live testnet run must
confirm, since a stop-loss without it could not be found again after a lost create); mark vs
last price (triggers use the last price); isolated margin; hedge-mode trading (the mode can be
set; orders with positionSide BOTH are then refused, as BingX does).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote

from tests.venues import bingx_shapes as shapes
from tests.venues import core
from tests.venues.bingx_shapes import text
from tests.venues.core import (
    Answer,
    D,
    FakeVenue,
    Json,
    MarketSpec,
    Order,
    Refusal,
    Request,
    VenueError,
    now_ms,
)

API_KEY = "bingx-key"
SECRET = "bingx-secret"
KEYS = (API_KEY, SECRET)
RECV_WINDOW_MS = 5000
DEFAULT_LEVERAGE = 5
SWAP = "/openApi/swap"
CREATE, ORDER = ("POST", f"{SWAP}/v2/trade/order"), f"{SWAP}/v2/trade/order"

BTC = MarketSpec(
    "BTC-USDT", "BTC", "USDT", tick=D("0.1"), step=D("0.0001"), min_amount=D("0.0001"),
    min_notional=D("2"), bid=D("60000.0"), ask=D("60000.2"), swap=True, max_leverage=125,
)  # fmt: skip
# BingX's types -> the engine's kinds; TRIGGER_* take theirs from the trigger's side of the
# last price at placement (an order in the trigger's direction)
KINDS = {"MARKET": core.MARKET, "LIMIT": core.LIMIT, "STOP_MARKET": core.STOP,
         "TAKE_PROFIT_MARKET": core.TAKE_PROFIT, "STOP": core.STOP_LIMIT,
         "TAKE_PROFIT": core.TAKE_PROFIT_LIMIT}  # fmt: skip
POSITION_TPSL = ("STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT")
RULES = "Please check your positions and open orders."
ERRORS: dict[str, tuple[int, str]] = {
    "symbol": (109400, "{detail},symbol not exist, please verify it in api:"
                       " /openApi/swap/v2/quote/contracts"),
    "amount_step": (101400, "Order size error"),
    "min_amount": (101400, "The minimum order amount is 0.0001 BTC."),
    "min_notional": (101400, "Please ensure that the minimum nominal value of the order placed"
                             " must be greater than 2u"),
    "price_step": (80014, "Invalid parameters, price precision: {detail}"),
    "funds": (101204, "Insufficient margin"),
    "duplicate": (101481, "clientOrderID cannot be repeated"),
    "reduce_only": (101290, "The Reduce Only order can only decrease the position and not be"
                            f" used to open a position. {RULES}"),
    "no_position": (101205, "No position to close"),
    "not_found": (80016, "order does not exist"),
    "unknown_cancel": (109414, "order not exist"),
    "not_open": (80018, "order is already filled, The order doesn't exist"),
    "leverage": (101414, "The maximum leverage for the trading pair is {detail}, please reduce"
                         " the leverage"),
    "position_mode": (101212, "Failed. Please check if you have pending orders under the"
                              " trading pair. If yes, please cancel them and try again"),
}  # fmt: skip
WOULD_TRIGGER = {  # (kind, side) -> BingX's refusal of a stop or target already reached
    (core.STOP, "sell"): (110411, "Stop Loss price should be lower than the current price"),
    (core.STOP, "buy"): (110412, "Stop Loss price should be greater than the current price"),
    (core.TAKE_PROFIT, "sell"): (110413, "Take Profit price should be greater than the"
                                         " current price"),
    (core.TAKE_PROFIT, "buy"): (110413, "Take Profit price should be lower than the current"
                                        " price"),
}  # fmt: skip


def ok(data: Json | None) -> Answer:
    return 200, {"code": 0, "msg": "", "data": data if data is not None else {}}


def error(code: int, msg: str) -> VenueError:
    return VenueError(200, {"code": code, "msg": msg, "data": {}})


@dataclass
class FakeBingx(FakeVenue):
    """BingX's USDT-M swap account: a swap wallet (the engine's balances) and a spot wallet
    apart (`spot`), one-way position mode unless set otherwise."""

    OPS: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        "create": (CREATE,),
        "fetch": (("GET", ORDER),),
        "cancel": (("DELETE", ORDER),),
        "open_orders": (("GET", f"{SWAP}/v2/trade/openOrders"),),
        "closed_orders": (("GET", f"{SWAP}/v2/trade/allOrders"),),
        "leverage": (("POST", f"{SWAP}/v2/trade/leverage"),),
    }
    FEE_RATE: ClassVar[Decimal] = D("0.0005")  # BingX's swap taker fee

    specs: list[MarketSpec] = field(default_factory=lambda: [BTC])
    balances: dict[str, list[Decimal]] = field(default_factory=lambda: {"USDT": [D(100_000), D(0)]})
    spot: dict[str, Decimal] = field(default_factory=lambda: {"USDT": D(25), "BTC": D(0)})
    calls: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # as received
    _order_ids: Iterator[int] = field(
        default_factory=lambda: itertools.count(1_864_000_000_000_000_000, 7919)
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for spec in self.specs:  # BingX opens an account's pairs at 5x
            self.leverage.setdefault(spec.id, DEFAULT_LEVERAGE)

    def routes(self) -> dict[tuple[str, str], tuple[bool, Callable[[dict[str, str]], Answer]]]:
        """(method, path) -> (signed, handler of the request's params)."""
        return {
            ("GET", f"{SWAP}/v2/server/time"): (False, lambda _: ok({"serverTime": now_ms()})),
            ("GET", f"{SWAP}/v2/quote/contracts"): (False, self._contracts),
            ("GET", f"{SWAP}/v2/quote/depth"): (False, self._depth),
            ("GET", f"{SWAP}/v2/quote/ticker"): (False, self._ticker),
            ("GET", "/openApi/spot/v1/common/symbols"): (False, self._spot_symbols),
            ("GET", "/openApi/cswap/v1/market/contracts"): (False, lambda _: ok([])),
            ("GET", "/openApi/wallets/v1/capital/config/getall"): (True, self._coins),
            CREATE: (True, self._create),
            ("GET", ORDER): (True, self._fetch),
            ("DELETE", ORDER): (True, self._cancel),
            ("GET", f"{SWAP}/v2/trade/openOrders"): (True, self._open_orders),
            ("GET", f"{SWAP}/v2/trade/allOrders"): (True, self._all_orders),
            ("GET", f"{SWAP}/v2/trade/allFillOrders"): (True, self._fills),
            ("GET", f"{SWAP}/v3/user/balance"): (True, self._swap_balance),
            ("GET", "/openApi/spot/v1/account/balance"): (True, self._spot_balance),
            ("GET", f"{SWAP}/v2/user/positions"): (True, self._positions),
            ("GET", f"{SWAP}/v2/trade/leverage"): (True, self._leverage),
            ("POST", f"{SWAP}/v2/trade/leverage"): (True, self._set_leverage),
            ("GET", f"{SWAP}/v1/positionSide/dual"): (True, self._position_mode),
            ("POST", f"{SWAP}/v1/positionSide/dual"): (True, self._set_position_mode),
        }

    def sent(self, op: str) -> list[dict[str, str]]:
        """The params of every `op` request received (test reads)."""
        with self.lock:
            return [p for m, path, p in self.calls if (m, path) in self.OPS[op]]

    # --- the dialect -------------------------------------------------------------------------

    def route(self, request: Request) -> Answer:
        found = self.routes().get((request.method, request.path))
        if found is None:
            return 404, {"code": 100400, "msg": f"path {request.path} not found", "data": {}}
        signed, handler = found
        params = self.params_of(request)
        with self.lock:
            self.calls.append((request.method, request.path, params))
        if signed:
            self._authenticate(request, params)
        return handler(params)

    def refused(self, refusal: Refusal) -> Answer:
        code, message = ERRORS.get(refusal.reason, (80014, "Invalid parameters"))
        return 200, {"code": code, "msg": message.format(detail=refusal.detail), "data": {}}

    def rate_limited(self) -> Answer:
        return 429, {"code": 100410, "msg": "rate limited", "data": {}}

    def client_id_of(self, request: Request) -> str | None:
        params = self.params_of(request)
        found = params.get("clientOrderID") or params.get("clientOrderId")
        return found.lower() if found else None

    @staticmethod
    def params_of(request: Request) -> dict[str, str]:
        """Query string and form body together; the query's value wins (BingX's rule)."""
        body = dict(parse_qsl(request.body, keep_blank_values=True)) if request.body else {}
        return body | dict(parse_qsl(request.query, keep_blank_values=True))

    def _authenticate(self, request: Request, params: dict[str, str]) -> None:
        if request.headers.get("x-bx-apikey") != API_KEY:
            raise error(100413, "Incorrect apiKey")
        sent = params.get("signature")
        if not sent:
            raise error(100412, "Null signature")
        # what was signed: the parameter string as sent (query, then body), signature left out
        raw = [p for p in (request.query, request.body) if p]
        pairs = [kv for part in raw for kv in part.split("&") if not kv.startswith("signature=")]
        expected = hmac.new(SECRET.encode(), unquote("&".join(pairs)).encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), sent):
            raise error(100001, "Signature verification failed")
        stamp = params.get("timestamp", "")
        if not stamp.isdigit():
            raise error(100421, "Null timestamp or timestamp mismatch")
        window = int(params.get("recvWindow") or RECV_WINDOW_MS)
        if abs(now_ms() - int(stamp)) > window:
            raise error(80014, "timestamp is invalid")

    # --- public ------------------------------------------------------------------------------

    def _contracts(self, _: dict[str, str]) -> Answer:
        return ok([
            {"contractId": str(100 + n), "symbol": spec.id, "size": "0.0001",
             "quantityPrecision": str(_places(spec.step)),
             "pricePrecision": str(_places(spec.tick)),
             "feeRate": "0.0005", "makerFeeRate": "0.0002", "takerFeeRate": "0.0005",
             "tradeMinLimit": "0", "tradeMinQuantity": text(spec.min_amount),
             "tradeMinUSDT": text(spec.min_notional), "maxLongLeverage": str(spec.max_leverage),
             "maxShortLeverage": str(spec.max_leverage), "currency": spec.quote,
             "asset": spec.base, "status": "1", "apiStateOpen": "true", "apiStateClose": "true",
             "ensureTrigger": True, "triggerFeeRate": "0.00020000"}
            for n, spec in enumerate(self.specs)
        ])  # fmt: skip

    def _spot_symbols(self, _: dict[str, str]) -> Answer:
        symbols = [{"symbol": spec.id, "minQty": 0.00001, "maxQty": 100, "minNotional": 5,
                    "maxNotional": 20000, "status": 1, "tickSize": 0.01, "stepSize": 0.00001,
                    "apiStateSell": True, "apiStateBuy": True, "timeOnline": 0, "offTime": 0,
                    "maintainTime": 0} for spec in self.specs]  # fmt: skip
        return ok({"symbols": symbols})

    def _coins(self, _: dict[str, str]) -> Answer:
        return ok([{"coin": coin, "name": coin, "networkList": []} for coin in self.spot])

    def _depth(self, params: dict[str, str]) -> Answer:
        spec = self.spec(params.get("symbol", ""))
        with self.lock:
            bid, ask = self.books[spec.id]
        size = D("0.0001")  # the contract's `size`: the coin columns
        return ok({"T": now_ms(), "bids": [[text(bid), "10"]], "asks": [[text(ask), "10"]],
                   "bidsCoin": [[text(bid), text(10 * size)]],
                   "asksCoin": [[text(ask), text(10 * size)]]})  # fmt: skip

    def _ticker(self, params: dict[str, str]) -> Answer:
        spec = self.spec(params.get("symbol", ""))
        with self.lock:
            (bid, ask), last = self.books[spec.id], self.last[spec.id]
        return ok({"symbol": spec.id, "priceChange": "0", "priceChangePercent": "0",
                   "lastPrice": text(last), "lastQty": "0.01", "highPrice": text(ask),
                   "lowPrice": text(bid), "volume": "1000", "quoteVolume": "60000000",
                   "openPrice": text(last), "openTime": now_ms() - 86_400_000,
                   "closeTime": now_ms(), "bidPrice": text(bid), "bidQty": "10",
                   "askPrice": text(ask), "askQty": "10"})  # fmt: skip

    # --- orders ------------------------------------------------------------------------------

    def _create(self, params: dict[str, str]) -> Answer:
        spec = self.spec(params.get("symbol", ""))
        kind_name = params.get("type", "")
        side = params.get("side", "").lower()
        position_side = params.get("positionSide") or "LONG"  # BingX's default when empty
        self._check_position_side(position_side)
        if side not in ("buy", "sell"):
            raise error(80014, "Invalid parameters, side: must be BUY or SELL")
        cid = params.get("clientOrderID") or params.get("clientOrderId") or ""
        if len(cid) > 40:
            raise error(80014, "Invalid parameters, clientOrderID: the length must be 1-40")
        price, trigger = self._decimal(params, "price"), self._decimal(params, "stopPrice")
        amount = self._decimal(params, "quantity")
        if amount is None:
            raise error(80014, "parameter quantity is must")
        kind = self._kind(spec, kind_name, side, trigger)
        if kind in (core.LIMIT, core.STOP_LIMIT, core.TAKE_PROFIT_LIMIT) and price is None:
            raise error(80014, "Invalid parameters, price: This field is required.")
        if kind in core.CONDITIONAL and trigger is None:
            raise error(80014, "Invalid parameters, stopPrice: This field is required.")
        closing = kind_name in POSITION_TPSL  # a position's stop-loss or take-profit
        order = Order(
            id=str(next(self._order_ids)), client_id=cid.lower(), symbol=spec.id, side=side,
            kind=kind, amount=amount, price=price if kind != core.MARKET else None,
            trigger=trigger if kind in core.CONDITIONAL else None,
            reduce_only=closing or params.get("reduceOnly") == "true",
            extra={"type": kind_name, "positionSide": position_side},
        )  # fmt: skip
        with self.lock:
            if order.reduce_only:
                self._check_closing(spec, order, kind_name)
            try:
                placed = self.place(order)
            except Refusal as refusal:
                if refusal.reason == "would_trigger":
                    code, message = WOULD_TRIGGER[(self._base_kind(kind), side)]
                    raise error(code, message) from None
                raise
            return ok({"order": shapes.created(placed)})

    def _check_position_side(self, position_side: str) -> None:
        if self.hedge_mode and position_side not in ("LONG", "SHORT"):
            raise error(109400, "In the Hedge mode, the 'PositionSide' field can only be set to"
                                " LONG or SHORT.")  # fmt: skip
        if not self.hedge_mode and position_side != "BOTH":
            raise error(109400, "In the One-way mode, the 'PositionSide' field can only be set"
                                " to BOTH.")  # fmt: skip

    @staticmethod
    def _decimal(params: dict[str, str], key: str) -> Decimal | None:
        value = params.get(key)
        if value in (None, ""):
            return None
        try:
            return D(value)
        except ArithmeticError:
            raise error(80014, f"Invalid parameters, {key}: not a number") from None

    def _kind(self, spec: MarketSpec, name: str, side: str, trigger: Decimal | None) -> str:
        if name in KINDS:
            return KINDS[name]
        if name in ("TRIGGER_MARKET", "TRIGGER_LIMIT") and trigger is not None:
            rising = trigger > self.last[spec.id]  # fires when the price rises to it
            stop = rising == (side == "buy")
            if name == "TRIGGER_MARKET":
                return core.STOP if stop else core.TAKE_PROFIT
            return core.STOP_LIMIT if stop else core.TAKE_PROFIT_LIMIT
        raise error(80014, f"Invalid parameters, type: {name} is not supported")

    @staticmethod
    def _base_kind(kind: str) -> str:
        return core.STOP if kind in (core.STOP, core.STOP_LIMIT) else core.TAKE_PROFIT

    def _check_closing(self, spec: MarketSpec, order: Order, kind_name: str) -> None:
        """A position's TP/SL or a reduce-only order: a position on the other side, and the
        pending TP (or SL) orders together no larger than it."""
        held = self.positions.get(spec.id, core.Position()).amount
        if held == 0:
            raise Refusal("no_position", spec.id)
        if (held > 0) == (order.side == "buy"):
            raise Refusal("reduce_only", "the order would open a position")
        if kind_name not in POSITION_TPSL:
            return
        family = self._base_kind(order.kind)
        pending = sum(
            (o.remaining for o in self.orders.values()
             if o.symbol == spec.id and o.status == core.OPEN and o.conditional
             and o.extra.get("type") in POSITION_TPSL and self._base_kind(o.kind) == family),
            D(0),
        )  # fmt: skip
        if pending + order.amount > abs(held):
            raise Refusal("reduce_only", f"pending {pending} + {order.amount} > {abs(held)}")

    def _find(self, params: dict[str, str], refusal: str = "not_found") -> Order:
        spec = self.spec(params.get("symbol", ""))
        order_id = params.get("orderId")
        cid = (params.get("clientOrderID") or params.get("clientOrderId") or "").lower()
        with self.lock:
            for order in self.orders.values():
                if order.symbol == spec.id and (
                    order.id == order_id or (cid and not order_id and order.client_id == cid)
                ):
                    return order
        raise Refusal(refusal, order_id or cid)

    def _fetch(self, params: dict[str, str]) -> Answer:
        order = self._find(params)
        with self.lock:
            return ok({"order": self._shown(order)})

    def _cancel(self, params: dict[str, str]) -> Answer:
        order = self._find(params, "unknown_cancel")
        with self.lock:
            self.cancel(order)
            return ok({"order": self._shown(order)})

    def _open_orders(self, params: dict[str, str]) -> Answer:
        symbol = params.get("symbol")
        with self.lock:
            found = [self._shown(o) for o in self.orders.values()
                     if o.status == core.OPEN and symbol in (None, o.symbol)]  # fmt: skip
        return ok({"orders": found})

    def _all_orders(self, params: dict[str, str]) -> Answer:
        spec = self.spec(params.get("symbol", ""))
        with self.lock:
            found = [self._shown(o) for o in self.orders.values()
                     if o.status != core.OPEN and o.symbol == spec.id]  # fmt: skip
        return ok({"orders": found})

    def _fills(self, params: dict[str, str]) -> Answer:
        spec = self.spec(params.get("symbol", ""))
        start, end = int(params.get("startTs") or 0), int(params.get("endTs") or now_ms())
        with self.lock:
            trades = [t for t in self.trades if t.symbol == spec.id and start <= t.at_ms <= end]
            fills = [shapes.fill_json(t, self.orders[t.order_id], not self.hedge_mode)
                     for t in trades]  # fmt: skip
        return ok({"fill_orders": fills})

    def _shown(self, order: Order) -> dict[str, Any]:
        return shapes.order_json(order, self._lev(order.symbol), not self.hedge_mode)

    # --- account -----------------------------------------------------------------------------

    def _lev(self, symbol: str) -> int:
        return self.leverage.get(symbol, DEFAULT_LEVERAGE)

    def _swap_row(self) -> dict[str, Any]:
        with self.lock:
            free, locked = self.balances.get("USDT", [D(0), D(0)])
            used = self.margin_used("USDT")
            pnl = sum((self._pnl(s, p) for s, p in self.positions.items() if p.amount), D(0))
        return {"userId": "116***295", "asset": "USDT", "balance": text(free + locked),
                "equity": text(free + locked + pnl), "unrealizedProfit": text(pnl),
                "realisedProfit": "0", "availableMargin": text(free - used),
                "usedMargin": text(used + locked), "freezedMargin": text(locked),
                "shortUid": "12851936"}  # fmt: skip

    def _pnl(self, symbol: str, position: core.Position) -> Decimal:
        return (self.last[symbol] - position.entry) * position.amount

    def _swap_balance(self, _: dict[str, str]) -> Answer:
        return ok([self._swap_row()])

    def _spot_balance(self, _: dict[str, str]) -> Answer:
        rows = [{"asset": a, "free": text(v), "locked": "0"} for a, v in self.spot.items()]
        return ok({"balances": rows})

    def _positions(self, params: dict[str, str]) -> Answer:
        symbol = params.get("symbol")
        with self.lock:
            held = [(s, p) for s, p in self.positions.items() if p.amount and symbol in (None, s)]
            rows = [shapes.position_json(s, p, self.last[s], self._lev(s), not self.hedge_mode, n)
                    for n, (s, p) in enumerate(held)]  # fmt: skip
        return ok(rows)

    def _leverage(self, params: dict[str, str]) -> Answer:
        spec = self.spec(params.get("symbol", ""))
        lev = self._lev(spec.id)
        return ok({"longLeverage": lev, "shortLeverage": lev,
                   "maxLongLeverage": spec.max_leverage, "maxShortLeverage": spec.max_leverage,
                   "availableLongVol": "0.0000", "availableShortVol": "0.0000"})  # fmt: skip

    def _set_leverage(self, params: dict[str, str]) -> Answer:
        spec = self.spec(params.get("symbol", ""))
        self._check_position_side(params.get("side", ""))
        raw = params.get("leverage", "")
        if not raw.isdigit() or int(raw) < 1:
            raise error(80014, "Invalid parameters, leverage: must be a whole number")
        if int(raw) > spec.max_leverage:
            raise Refusal("leverage", str(spec.max_leverage))
        with self.lock:
            self.leverage[spec.id] = int(raw)
        return ok({"leverage": int(raw), "symbol": spec.id, "availableLongVol": "0.0000",
                   "availableShortVol": "0.0000", "availableLongVal": "0.0",
                   "availableShortVal": "0.0", "maxPositionLongVal": "0.0",
                   "maxPositionShortVal": "0.0"})  # fmt: skip

    def _position_mode(self, _: dict[str, str]) -> Answer:
        return ok({"dualSidePosition": "true" if self.hedge_mode else "false"})

    def _set_position_mode(self, params: dict[str, str]) -> Answer:
        with self.lock:
            busy = any(p.amount for p in self.positions.values()) or any(
                o.status == core.OPEN for o in self.orders.values()
            )
            if busy:
                raise Refusal("position_mode", "positions or open orders")
            self.hedge_mode = params.get("dualSidePosition") == "true"
        return ok({"dualSidePosition": "true" if self.hedge_mode else "false"})


def _places(step: Decimal) -> int:
    """The decimal places of a step: BingX's `quantityPrecision` / `pricePrecision`."""
    return max(0, -int(step.normalize().as_tuple().exponent))
