"""Binance USD-M perpetuals (`/fapi`, ccxt `binanceusdm`) on the shared engine.

Its quirk since 2025-12-09: conditional orders (STOP_MARKET, TAKE_PROFIT_MARKET, STOP,
TAKE_PROFIT, TRAILING_STOP_MARKET) live in the Algo Service, not in the order book.
`POST /fapi/v1/order` refuses them (-4120); they are placed with `POST /fapi/v1/algoOrder`
(`algoType=CONDITIONAL`, `triggerPrice`, `clientAlgoId`), read with `GET /fapi/v1/algoOrder`
(`algoId` or `clientAlgoId`), cancelled with `DELETE /fapi/v1/algoOrder` and listed with
`GET /fapi/v1/openAlgoOrders` / `allAlgoOrders`. An algo order shows `algoStatus` NEW until
its trigger, then TRIGGERED once the order it becomes is in the matching engine, FINISHED once
that order is done (filled or not), CANCELED, REJECTED or EXPIRED; what it became is
`actualOrderId`, an ordinary order of `GET /fapi/v1/order` with its own id, and its fills are
that order's (the algo answer carries no executed quantity). ccxt 4.5.90 sends a swap's
conditional order to the algo endpoints, and reads, cancels and lists them there only with
`params={'trigger': True}`; it maps TRIGGERED and FINISHED to `closed`.

Also: one-way position mode (`GET /fapi/v1/positionSide/dual`; in hedge mode an order without
`positionSide` is refused, -4061), leverage per symbol (`POST /fapi/v1/leverage`, 1-125, default
20), the USDT wallet (`GET /fapi/v3/account`, `/fapi/v2/balance`), positions
(`GET /fapi/v3/positionRisk`), reduce-only refused when it would not only shrink the position
(-2022) and expired when it triggers with nothing left to reduce.

Read from: Binance USDS-M futures REST docs (developers.binance.com/docs/derivatives/
usds-margined-futures): New Order, New Algo Order, Query Algo Order (its answer: algoId,
clientAlgoId, algoType, orderType, quantity, algoStatus, actualOrderId, actualPrice,
triggerPrice...), Cancel Algo Order (`{"algoId", "clientAlgoId", "code": "200", "msg":
"success"}`), Current All Algo Open Orders, user-data event ALGO_UPDATE (the statuses), Change
Initial Leverage, Get Current Position Mode, Account Information V3, Position Information V3,
Error Codes (-1111, -2019, -2021, -2022, -4014, -4028, -4061, -4116, -4120, -4164); the
2025-11-06 change log entry (conditional orders move to the Algo Service); ccxt 4.5.90
`binance.py` (`create_order`, `create_order_request` with `isAlgoOrder`, `fetch_order`,
`cancel_order`, `fetch_open_orders`, `parse_order` and its recorded algo answers in comments,
the `linear` exceptions table) and its recorded answers (ts/src/test/static/response/
binance.json: the swap createOrders entry, whose order fields `GET /fapi/v1/order` carries).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from tests.venues.binance import BinanceDialect, Handler, expired, text
from tests.venues.binance_market import MarketStream
from tests.venues.binance_streams import UsdmUserStream
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
    Book,
    Json,
    MarketSpec,
    Order,
    Position,
    Refusal,
    Request,
    now_ms,
)
from tests.venues.streams import Listener

D = Decimal
BTCUSDT_PERP = MarketSpec(
    id="BTCUSDT", base="BTC", quote="USDT", tick=D("0.10"), step=D("0.001"),
    min_amount=D("0.001"), min_notional=D(100), bid=D("49990.00"), ask=D("50010.00"),
    swap=True, max_leverage=125,
)  # fmt: skip
ORDER_TYPES = {"LIMIT": LIMIT, "MARKET": MARKET}
ALGO_TYPES = {"STOP_MARKET": STOP, "TAKE_PROFIT_MARKET": TAKE_PROFIT, "STOP": STOP_LIMIT,
              "TAKE_PROFIT": TAKE_PROFIT_LIMIT}  # fmt: skip
ALL_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
             "TRAILING_STOP_MARKET"]  # fmt: skip
DEFAULT_LEVERAGE = 20


@dataclass
class BinanceUsdm(BinanceDialect):
    """Binance USD-M futures: `/fapi`, conditional orders in the Algo Service."""

    OPS: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {
        "create": (("POST", "/fapi/v1/order"), ("POST", "/fapi/v1/algoOrder")),
        "fetch": (("GET", "/fapi/v1/order"), ("GET", "/fapi/v1/algoOrder")),
        "cancel": (("DELETE", "/fapi/v1/order"), ("DELETE", "/fapi/v1/algoOrder")),
        "open_orders": (("GET", "/fapi/v1/openOrders"), ("GET", "/fapi/v1/openAlgoOrders")),
    }
    FEE_RATE: ClassVar[Decimal] = D("0.0005")  # taker, VIP 0
    ERRORS: ClassVar[dict[str, tuple[int, str]]] = {
        "symbol": (-1121, "Invalid symbol."),
        "amount_step": (-1111, "Precision is over the maximum defined for this asset."),
        "min_amount": (-1013, "Filter failure: LOT_SIZE"),
        "price_step": (-4014, "Price not increased by tick size."),
        "min_notional": (
            -4164,
            "Order's notional must be no smaller than 100 (unless you choose reduce only).",
        ),
        "funds": (-2019, "Margin is insufficient."),
        "duplicate": (-4116, "ClientOrderId is duplicated."),
        "would_trigger": (-2021, "Order would immediately trigger."),
        "reduce_only": (-2022, "ReduceOnly Order is rejected."),
        "not_found": (-2013, "Order does not exist."),
        "not_open": (-2011, "Unknown order sent."),
        "leverage": (-4028, "Leverage is not valid."),
        "position_mode": (-4061, "Order's position side does not match user's setting."),
    }
    BAD_CLIENT_ID: ClassVar[tuple[int, str]] = (-4015, "Client order id is not valid.")
    ID_PARAMS: ClassVar[tuple[str, ...]] = ("newClientOrderId", "clientAlgoId")

    def __post_init__(self) -> None:
        super().__post_init__()
        for spec in self.specs:
            self.leverage.setdefault(spec.id, DEFAULT_LEVERAGE)
        self.listen_keys: set[str] = set()

    # --- the user data stream (tests/venues/binance_streams.py) ---------------------------------

    def route(self, request: Request) -> Answer:
        """`/fapi/v1/listenKey` (USER_STREAM: the API key header, no signature), else as the
        dialect routes."""
        if request.path != "/fapi/v1/listenKey":
            return super().route(request)
        if request.headers.get("x-mbx-apikey") != self.api_key:
            raise self.error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        with self.lock:
            if request.method == "POST":  # the account's one key, created or kept
                key = next(iter(self.listen_keys), None) or f"fakeListenKey{self.next_id()}"
                self.listen_keys.add(key)
                return 200, {"listenKey": key}
            if request.method == "PUT" and self.listen_keys:
                return 200, {"listenKey": next(iter(self.listen_keys))}
            if request.method == "DELETE":
                self.listen_keys.clear()
                return 200, {}
        raise self.error(400, -1125, "This listenKey does not exist.")

    def stream_opened(self, path: str, query: dict[str, str]) -> Listener | None:
        """`/private/ws?listenKey=`: the account's events; `/public/ws/N`: the market streams a
        client SUBSCRIBEs to (tests/venues/binance_market.py)."""
        if path.startswith("/public/ws/"):
            return MarketStream(self, futures=True)
        key = query.get("listenKey", "")
        if path != "/private/ws" or key not in self.listen_keys:
            return None
        return UsdmUserStream(self, key)

    def routes(self) -> dict[tuple[str, str], tuple[bool, Handler]]:
        return {
            ("GET", "/fapi/v1/ping"): (False, lambda _: {}),
            ("GET", "/fapi/v1/time"): (False, lambda _: {"serverTime": now_ms()}),
            ("GET", "/fapi/v1/exchangeInfo"): (False, self._exchange_info),
            ("GET", "/fapi/v1/depth"): (False, self._depth),
            ("GET", "/fapi/v1/leverageBracket"): (True, self._brackets),
            ("POST", "/fapi/v1/leverage"): (True, self._set_leverage),
            ("GET", "/fapi/v1/positionSide/dual"): (True, self._position_mode),
            ("GET", "/fapi/v3/account"): (True, self._account),
            ("GET", "/fapi/v2/balance"): (True, self._balance),
            ("GET", "/fapi/v3/positionRisk"): (True, self._position_risk),
            ("POST", "/fapi/v1/order"): (True, self._create),
            ("GET", "/fapi/v1/order"): (True, self._fetch),
            ("DELETE", "/fapi/v1/order"): (True, self._cancel),
            ("GET", "/fapi/v1/openOrders"): (True, self._open_orders),
            ("GET", "/fapi/v1/allOrders"): (True, self._all_orders),
            ("GET", "/fapi/v1/userTrades"): (True, self._user_trades),
            ("POST", "/fapi/v1/algoOrder"): (True, self._create_algo),
            ("GET", "/fapi/v1/algoOrder"): (True, self._fetch_algo),
            ("DELETE", "/fapi/v1/algoOrder"): (True, self._cancel_algo),
            ("GET", "/fapi/v1/openAlgoOrders"): (True, self._open_algos),
            ("GET", "/fapi/v1/allAlgoOrders"): (True, self._all_algos),
        }

    # --- the engine, as the Algo Service works it ------------------------------------------------

    def _work(self, order: Order) -> None:
        if order.conditional or order.triggered:
            # the algo order becomes an order of the matching engine, with its own id
            order.extra.setdefault("actual", self.next_id())
            held = self.positions.get(order.symbol, Position()).amount
            if order.reduce_only and (held == 0 or (held > 0) == (order.side == "buy")):
                order.status, order.extra["expired"] = CANCELED, True  # nothing to reduce
                order.updated_ms = now_ms()
                return
            if order.reduce_only and abs(held) < order.remaining:  # reduces, never flips
                cap = self.partial_next.get(order.client_id, order.remaining)
                self.partial_next[order.client_id] = min(cap, abs(held))
        super()._work(order)

    # --- public --------------------------------------------------------------------------------

    def _exchange_info(self, _: dict[str, str]) -> Json:
        symbols = [
            {
                "symbol": spec.id, "pair": spec.id, "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000, "onboardDate": 1569398400000,
                "status": "TRADING", "maintMarginPercent": "2.5000",
                "requiredMarginPercent": "5.0000", "baseAsset": spec.base,
                "quoteAsset": spec.quote, "marginAsset": spec.quote, "pricePrecision": 2,
                "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
                "underlyingType": "COIN", "underlyingSubType": ["PoW"],
                "triggerProtect": "0.0500", "liquidationFee": "0.012500",
                "marketTakeBound": "0.05", "maxMoveOrderLimit": 10000,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": text(spec.tick),
                     "maxPrice": "4529764", "tickSize": text(spec.tick)},
                    {"filterType": "LOT_SIZE", "minQty": text(spec.min_amount), "maxQty": "1000",
                     "stepSize": text(spec.step)},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": text(spec.min_amount),
                     "maxQty": "120", "stepSize": text(spec.step)},
                    {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                    {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                    {"filterType": "MIN_NOTIONAL", "notional": text(spec.min_notional)},
                    {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500",
                     "multiplierDown": "0.9500", "multiplierDecimal": "4"},
                ],
                "orderTypes": ALL_TYPES, "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
                "permissionSets": ["GRID", "COPY"],
            }
            for spec in self.specs
        ]  # fmt: skip
        return {"timezone": "UTC", "serverTime": now_ms(), "futuresType": "U_MARGINED",
                "rateLimits": [], "exchangeFilters": [],
                "assets": [{"asset": "USDT", "marginAvailable": True,
                            "autoAssetExchange": "-10000"}],
                "symbols": symbols}  # fmt: skip

    def _depth(self, params: dict[str, str]) -> Json:
        spec = self.spec(params.get("symbol", ""))
        with self.lock:
            book, update_id = self.books[spec.id], self.book_ids[spec.id]
        now = now_ms()
        bids, asks = self.depth_levels(spec.id, book)
        return {"lastUpdateId": update_id, "E": now, "T": now, "bids": bids, "asks": asks}

    def depth_levels(self, symbol: str, book: Book) -> tuple[list[list[str]], ...]:
        """The five levels a side the book (best bid, best ask) shows: REST and the streams."""
        (bid, ask), tick = book, self.markets[symbol].tick
        return ([[text(bid - i * tick), "10.000"] for i in range(5)],
                [[text(ask + i * tick), "10.000"] for i in range(5)])  # fmt: skip

    # --- account -------------------------------------------------------------------------------

    def _brackets(self, _: dict[str, str]) -> Json:
        return [{"symbol": spec.id, "brackets": [
            {"bracket": 1, "initialLeverage": spec.max_leverage, "notionalCap": 50000,
             "notionalFloor": 0, "maintMarginRatio": 0.004, "cum": 0.0},
        ]} for spec in self.specs]  # fmt: skip

    def _set_leverage(self, params: dict[str, str]) -> Json:
        spec = self.spec(params.get("symbol", ""))
        raw = params.get("leverage", "")
        if not raw.isdigit() or not 1 <= int(raw) <= spec.max_leverage:
            raise self.error(400, -4028, f"Leverage {raw} is not valid")
        with self.lock:
            self.leverage[spec.id] = int(raw)
        return {"leverage": int(raw), "maxNotionalValue": "50000", "symbol": spec.id}

    def _position_mode(self, _: dict[str, str]) -> Json:
        return {"dualSidePosition": self.hedge_mode}

    def mark(self, symbol: str) -> Decimal:
        bid, ask = self.books[symbol]
        return (bid + ask) / 2

    def _figures(self) -> dict[str, Decimal]:
        """The USDT wallet's figures (lock held): Binance's initial margin is at the mark."""
        free, locked = self.balances.get("USDT", [D(0), D(0)])
        margin = pnl = D(0)
        for symbol, position in self.positions.items():
            mark, size = self.mark(symbol), self.markets[symbol].contract_size
            margin += abs(position.amount) * size * mark / self.leverage[symbol]
            pnl += position.amount * size * (mark - position.entry)
        return {"wallet": free + locked, "pnl": pnl, "position_margin": margin,
                "order_margin": locked, "available": free + pnl - margin}  # fmt: skip

    def _account(self, _: dict[str, str]) -> Json:
        with self.lock:
            f = self._figures()
            rows = [self._position_row(s, p) for s, p in self.positions.items() if p.amount]
        margin = f["position_margin"] + f["order_margin"]
        asset = {
            "asset": "USDT", "walletBalance": text(f["wallet"]),
            "unrealizedProfit": text(f["pnl"]), "marginBalance": text(f["wallet"] + f["pnl"]),
            "maintMargin": "0", "initialMargin": text(margin),
            "positionInitialMargin": text(f["position_margin"]),
            "openOrderInitialMargin": text(f["order_margin"]),
            "crossWalletBalance": text(f["wallet"]), "crossUnPnl": text(f["pnl"]),
            "availableBalance": text(f["available"]), "maxWithdrawAmount": text(f["available"]),
            "updateTime": now_ms(),
        }  # fmt: skip
        return {
            "totalInitialMargin": text(margin), "totalMaintMargin": "0",
            "totalWalletBalance": text(f["wallet"]), "totalUnrealizedProfit": text(f["pnl"]),
            "totalMarginBalance": text(f["wallet"] + f["pnl"]),
            "totalPositionInitialMargin": text(f["position_margin"]),
            "totalOpenOrderInitialMargin": text(f["order_margin"]),
            "totalCrossWalletBalance": text(f["wallet"]), "totalCrossUnPnl": text(f["pnl"]),
            "availableBalance": text(f["available"]), "maxWithdrawAmount": text(f["available"]),
            "assets": [asset], "positions": rows,
        }  # fmt: skip

    def _balance(self, _: dict[str, str]) -> Json:
        with self.lock:
            f = self._figures()
        return [{"accountAlias": "SgAccount", "asset": "USDT", "balance": text(f["wallet"]),
                 "crossWalletBalance": text(f["wallet"]), "crossUnPnl": text(f["pnl"]),
                 "availableBalance": text(f["available"]),
                 "maxWithdrawAmount": text(f["available"]), "marginAvailable": True,
                 "updateTime": now_ms()}]  # fmt: skip

    def _position_row(self, symbol: str, position: Position) -> dict[str, Any]:
        mark, lev = self.mark(symbol), self.leverage[symbol]
        amount, entry = position.amount, position.entry
        margin = abs(amount) * mark / lev
        liquidation = D(0) if not amount else entry * (1 - (1 if amount > 0 else -1) / D(lev))
        return {
            "symbol": symbol, "positionSide": "BOTH", "positionAmt": text(amount),
            "entryPrice": text(entry), "breakEvenPrice": text(entry), "markPrice": text(mark),
            "unRealizedProfit": text(amount * (mark - entry)),
            "liquidationPrice": text(liquidation.quantize(D("0.01"))), "isolatedMargin": "0",
            "notional": text(amount * mark), "marginAsset": "USDT", "isolatedWallet": "0",
            "initialMargin": text(margin), "maintMargin": text(abs(amount) * mark * D("0.004")),
            "positionInitialMargin": text(margin), "openOrderInitialMargin": "0", "adl": 0,
            "bidNotional": "0", "askNotional": "0", "updateTime": now_ms(),
        }  # fmt: skip

    def _position_risk(self, params: dict[str, str]) -> Json:
        with self.lock:
            return [self._position_row(spec.id, self.positions.get(spec.id, Position()))
                    for spec in self.specs
                    if params.get("symbol") in (None, spec.id)]  # fmt: skip

    # --- orders ----------------------------------------------------------------------------------

    def _order_terms(self, params: dict[str, str]) -> tuple[MarketSpec, str, bool]:
        spec = self.spec(params.get("symbol", ""))
        side = params.get("side", "")
        if side not in ("BUY", "SELL"):
            raise self.error(400, -1102, "Mandatory parameter 'side' was not sent, was"
                             " empty/null, or malformed.")  # fmt: skip
        if self.hedge_mode and params.get("positionSide", "BOTH") == "BOTH":
            raise Refusal("position_mode", "hedge mode needs LONG or SHORT")
        if not self.hedge_mode and params.get("positionSide", "BOTH") != "BOTH":
            raise Refusal("position_mode", "one-way mode takes BOTH")
        return spec, side.lower(), params.get("reduceOnly") == "true"

    def _create(self, params: dict[str, str]) -> Json:
        if params.get("type") in ALGO_TYPES or params.get("type") == "TRAILING_STOP_MARKET":
            raise self.error(400, -4120, "Order type not supported for this endpoint. Please"
                             " use the Algo Order API endpoints instead.")  # fmt: skip
        kind = ORDER_TYPES.get(params.get("type", ""))
        if kind is None:
            raise self.error(400, -1116, "Invalid orderType.")
        spec, side, reduce_only = self._order_terms(params)
        amount = self.required(params, "quantity")
        price = self.required(params, "price") if kind == LIMIT else None
        with self.lock:
            held = abs(self.positions.get(spec.id, Position()).amount)
            if reduce_only and amount > held:  # it would not only shrink the position
                raise Refusal("reduce_only", f"{amount} > {held}")
            cid = self.client_id(params, "newClientOrderId", "x-cvBPrNm9")
            extra = {"type": params["type"], "tif": params.get("timeInForce")}
            order = Order(self.next_id(), cid, spec.id, side, kind, amount, price,
                          reduce_only=reduce_only, extra=extra)  # fmt: skip
            self.place(order)
            return self.shown(order)

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
            return self.shown(order)

    def in_book(self, order: Order) -> bool:
        """An order of the matching engine: a plain one, or what a triggered algo became."""
        return not order.extra.get("algo") or "actual" in order.extra

    def ids_of(self, order: Order) -> tuple[str, ...]:
        if order.extra.get("algo"):
            return (order.extra["actual"],) if "actual" in order.extra else ()
        return (order.id,)

    def find(self, params: dict[str, str], id_key: str, client_key: str) -> Order:
        """An algo order by `algoId` / `clientAlgoId`, or an order of the matching engine by
        `orderId` / `origClientOrderId` (never an algo order not triggered yet)."""
        algo, symbol = id_key == "algoId", params.get("symbol")
        wanted, client = params.get(id_key), params.get(client_key)
        for order in reversed(list(self.orders.values())):
            if symbol not in (None, order.symbol):
                continue
            if algo:
                if not order.extra.get("algo"):
                    continue
                ids: tuple[str, ...] = (order.id,)
                its_client = order.client_id
            else:
                if not self.in_book(order):
                    continue
                ids, its_client = self.ids_of(order), self.client_of(order)
            if wanted in ids or (client is not None and client == its_client):
                return order
        raise Refusal("not_found", str(params))

    def client_of(self, order: Order) -> str:
        """The client order id of an order of the matching engine: Binance names the order an
        algo order becomes itself."""
        return str(order.extra.get("actual_client") or order.client_id)

    def _open_orders(self, params: dict[str, str]) -> Json:
        symbol = params.get("symbol")
        with self.lock:
            return [self.shown(o) for o in self.orders.values()
                    if o.status == OPEN and self.in_book(o)
                    and symbol in (None, o.symbol)]  # fmt: skip

    def _all_orders(self, params: dict[str, str]) -> Json:
        spec = self.spec(params.get("symbol", ""))
        with self.lock:
            return [self.shown(o) for o in self.orders.values()
                    if o.symbol == spec.id and self.in_book(o)]  # fmt: skip

    def _user_trades(self, params: dict[str, str]) -> Json:
        with self.lock:
            return [
                {"buyer": t.side == "buy", "commission": text(t.fee), "commissionAsset": "USDT",
                 "id": int(t.id), "maker": t.maker, "orderId": int(self.ids_of(o)[0]),
                 "price": text(t.price), "qty": text(t.amount),
                 "quoteQty": text(t.price * t.amount), "realizedPnl": "0",
                 "side": t.side.upper(), "positionSide": "BOTH", "symbol": t.symbol,
                 "time": t.at_ms}
                for t in self.trades_of(params) for o in [self.orders[t.order_id]]
            ]  # fmt: skip

    def shown(self, order: Order) -> dict[str, Any]:
        """An order of the matching engine as `GET /fapi/v1/order` shows it."""
        status = {OPEN: "PARTIALLY_FILLED" if order.filled else "NEW", FILLED: "FILLED",
                  REJECTED: "REJECTED"}.get(order.status, "CANCELED")  # fmt: skip
        if order.status == CANCELED and (expired(order) or order.extra.get("expired")):
            status = "EXPIRED"
        algo = bool(order.extra.get("algo"))
        kind = "LIMIT" if order.kind == LIMIT else "MARKET" if algo else order.extra["type"]
        return {
            "orderId": int(self.ids_of(order)[0]), "symbol": order.symbol, "status": status,
            "clientOrderId": self.client_of(order),
            "price": text(order.price or D(0)), "avgPrice": text(order.average or D(0)),
            "origQty": text(order.amount), "executedQty": text(order.filled),
            "cumQty": text(order.filled), "cumQuote": text(order.cost),
            "timeInForce": order.extra.get("tif") or "GTC", "type": kind,
            "reduceOnly": order.reduce_only, "closePosition": False,
            "side": order.side.upper(), "positionSide": "BOTH",
            "stopPrice": text(order.trigger or D(0)), "workingType": "CONTRACT_PRICE",
            "priceProtect": False, "origType": order.extra["type"], "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
            "time": order.extra.get("triggered_ms") or order.created_ms,
            "updateTime": order.updated_ms,
        }  # fmt: skip

    # --- the Algo Service ------------------------------------------------------------------------

    def _create_algo(self, params: dict[str, str]) -> Json:
        if params.get("algoType") != "CONDITIONAL":
            raise self.error(400, -1102, "Mandatory parameter 'algoType' was not sent, was"
                             " empty/null, or malformed.")  # fmt: skip
        kind = ALGO_TYPES.get(params.get("type", ""))
        if kind is None:
            raise self.error(400, -1116, "Invalid orderType.")
        spec, side, reduce_only = self._order_terms(params)
        amount = self.required(params, "quantity")
        trigger = self.required(params, "triggerPrice")
        price = self.required(params, "price") if kind in (STOP_LIMIT, TAKE_PROFIT_LIMIT) else None
        with self.lock:
            cid = self.client_id(params, "clientAlgoId", "")
            order = Order(self.next_id(), cid, spec.id, side, kind, amount, price, trigger,
                          reduce_only=reduce_only,
                          extra={"algo": True, "type": params["type"],
                                 "tif": params.get("timeInForce"),
                                 "actual_client": f"autoalgo-{self.next_id()}"})  # fmt: skip
            self.place(order)
            return self.algo(order)

    def _fetch_algo(self, params: dict[str, str]) -> Json:
        with self.lock:
            return self.algo(self.find(params, "algoId", "clientAlgoId"))

    def _cancel_algo(self, params: dict[str, str]) -> Json:
        with self.lock:
            try:
                order = self.find(params, "algoId", "clientAlgoId")
            except Refusal:
                raise Refusal("not_open", str(params)) from None
            if order.triggered:
                raise Refusal("not_open", order.id)
            self.cancel(order)
        return {"algoId": int(order.id), "clientAlgoId": order.client_id, "code": "200",
                "msg": "success"}  # fmt: skip

    def _open_algos(self, params: dict[str, str]) -> Json:
        symbol = params.get("symbol")
        with self.lock:
            return [self.algo(o) for o in self.orders.values()
                    if o.extra.get("algo") and o.status == OPEN and not o.triggered
                    and symbol in (None, o.symbol)]  # fmt: skip

    def _all_algos(self, params: dict[str, str]) -> Json:
        spec = self.spec(params.get("symbol", ""))
        with self.lock:
            return [self.algo(o) for o in self.orders.values()
                    if o.extra.get("algo") and o.symbol == spec.id]  # fmt: skip

    def algo(self, order: Order) -> dict[str, Any]:
        """An algo order as the Algo Service shows it (no executed quantity: that is the
        actual order's)."""
        if not order.triggered:
            status = {OPEN: "NEW", REJECTED: "REJECTED"}.get(order.status, "CANCELED")
        else:
            status = "TRIGGERED" if order.status == OPEN else "FINISHED"
        triggered = order.extra.get("triggered_ms", 0)
        return {
            "algoId": int(order.id), "clientAlgoId": order.client_id, "algoType": "CONDITIONAL",
            "orderType": order.extra["type"], "symbol": order.symbol,
            "side": order.side.upper(), "positionSide": "BOTH",
            "timeInForce": order.extra.get("tif") or "GTC", "quantity": text(order.amount),
            "algoStatus": status, "actualOrderId": order.extra.get("actual", ""),
            "actualPrice": text(order.average or D(0)),
            "triggerPrice": text(order.trigger or D(0)), "price": text(order.price or D(0)),
            "icebergQuantity": None, "tpTriggerPrice": "0.000", "tpPrice": "0.000",
            "slTriggerPrice": "0.000", "slPrice": "0.000", "tpOrderType": "",
            "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": "CONTRACT_PRICE",
            "priceMatch": "NONE", "closePosition": False, "priceProtect": False,
            "reduceOnly": order.reduce_only, "createTime": order.created_ms,
            "updateTime": order.updated_ms, "triggerTime": triggered, "goodTillDate": 0,
        }  # fmt: skip


def usdm(wallet: str = "10000", hedge_mode: bool = False) -> BinanceUsdm:
    """A USD-M account with `wallet` USDT, in one-way mode unless `hedge_mode`."""
    return BinanceUsdm(specs=[BTCUSDT_PERP], balances={"USDT": [D(wallet), D(0)]},
                       hedge_mode=hedge_mode)  # fmt: skip
