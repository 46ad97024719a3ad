"""Binance USD-M perpetuals (`/fapi/...`) on top of the fake spot venue, for ccxt `binanceusdm`.

One-way position mode, cross margin, a USDT wallet. Market orders fill at once against the same
fixed book as spot and move the position; a reduce-only order that would not only shrink the
position is refused the way Binance refuses it (-2022). Limit and stop orders rest. Faults are
injected on `/fapi/...` paths exactly as on the spot side (`fail_next`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.fake_binance import (
    OPEN_STATES,
    SYMBOLS,
    BinanceError,
    FakeBinance,
    Json,
    _now_ms,
    _public,
    find_order,
)

FUTURES_ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                       "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]  # fmt: skip
PERPETUALS = ("BTCUSDT",)
MAX_LEVERAGE = 125


@dataclass
class Position:
    amount: Decimal = Decimal(0)  # signed: + long, - short
    entry_price: Decimal = Decimal(0)
    leverage: int = 20


@dataclass
class FakeBinanceUsdm(FakeBinance):
    """Spot and USD-M futures in one fake account (like a real Binance account)."""

    wallet: Decimal = Decimal(10000)  # USDT, the futures wallet
    hedged: bool = False  # GET /fapi/v1/positionSide/dual: two-way position mode
    positions: dict[str, Position] = field(
        default_factory=lambda: {symbol: Position() for symbol in PERPETUALS}
    )
    futures_orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    futures_trades: list[dict[str, Any]] = field(default_factory=list)

    def futures_orders_with_client_id(self, client_order_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [
                o for o in self.futures_orders.values() if o["clientOrderId"] == client_order_id
            ]

    def _routes(self) -> dict[tuple[str, str], tuple[bool, Callable[[dict[str, str]], Json]]]:
        return super()._routes() | {
            ("GET", "/fapi/v1/ping"): (False, lambda _: {}),
            ("GET", "/fapi/v1/time"): (False, lambda _: {"serverTime": _now_ms()}),
            ("GET", "/fapi/v1/exchangeInfo"): (False, self._futures_info),
            ("GET", "/fapi/v1/depth"): (False, self._futures_depth),
            ("GET", "/fapi/v1/leverageBracket"): (True, self._brackets),
            ("POST", "/fapi/v1/leverage"): (True, self._set_leverage),
            ("GET", "/fapi/v3/account"): (True, self._futures_account),
            ("GET", "/fapi/v2/balance"): (True, self._futures_balance),
            ("GET", "/fapi/v3/positionRisk"): (True, self._position_risk),
            ("POST", "/fapi/v1/order"): (True, self._futures_create),
            ("GET", "/fapi/v1/order"): (True, self._futures_fetch),
            ("DELETE", "/fapi/v1/order"): (True, self._futures_cancel),
            ("GET", "/fapi/v1/openOrders"): (True, self._futures_open_orders),
            ("GET", "/fapi/v1/allOrders"): (True, self._futures_all_orders),
            ("GET", "/fapi/v1/userTrades"): (True, self._user_trades),
            ("GET", "/fapi/v1/positionSide/dual"): (True, self._position_mode),
        }

    def _position_mode(self, _: dict[str, str]) -> Json:
        return {"dualSidePosition": self.hedged}

    # --- public --------------------------------------------------------------------------

    def _futures_info(self, _: dict[str, str]) -> Json:
        symbols = []
        for symbol in PERPETUALS:
            spec = SYMBOLS[symbol]
            symbols.append(
                {
                    "symbol": symbol,
                    "pair": symbol,
                    "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000,
                    "onboardDate": 1569398400000,
                    "status": "TRADING",
                    "maintMarginPercent": "2.5000",
                    "requiredMarginPercent": "5.0000",
                    "baseAsset": spec["base"],
                    "quoteAsset": spec["quote"],
                    "marginAsset": spec["quote"],
                    "pricePrecision": 2,
                    "quantityPrecision": 3,
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "underlyingType": "COIN",
                    "underlyingSubType": ["PoW"],
                    "triggerProtect": "0.0500",
                    "liquidationFee": "0.012500",
                    "marketTakeBound": "0.05",
                    "maxMoveOrderLimit": 10000,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": "0.10",
                            "maxPrice": "4529764",
                            "tickSize": "0.10",
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": "0.001",
                            "maxQty": "1000",
                            "stepSize": "0.001",
                        },
                        {
                            "filterType": "MARKET_LOT_SIZE",
                            "minQty": "0.001",
                            "maxQty": "120",
                            "stepSize": "0.001",
                        },
                        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                        {"filterType": "MIN_NOTIONAL", "notional": "5"},
                        {
                            "filterType": "PERCENT_PRICE",
                            "multiplierUp": "1.0500",
                            "multiplierDown": "0.9500",
                            "multiplierDecimal": "4",
                        },
                    ],
                    "orderTypes": FUTURES_ORDER_TYPES,
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": _now_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": symbols,
        }

    def _perpetual(self, params: dict[str, str]) -> dict[str, str]:
        if params.get("symbol") not in PERPETUALS:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return SYMBOLS[params["symbol"]]

    def _futures_depth(self, params: dict[str, str]) -> Json:
        spec = self._perpetual(params)
        bids = [[str(Decimal(spec["bid"]) - i), "10.000"] for i in range(5)]
        asks = [[str(Decimal(spec["ask"]) + i), "10.000"] for i in range(5)]
        now = _now_ms()
        return {"lastUpdateId": 1, "E": now, "T": now, "bids": bids, "asks": asks}

    # --- account -------------------------------------------------------------------------

    def _brackets(self, _: dict[str, str]) -> Json:
        return [
            {
                "symbol": symbol,
                "brackets": [
                    {
                        "bracket": 1,
                        "initialLeverage": MAX_LEVERAGE,
                        "notionalCap": 50000,
                        "notionalFloor": 0,
                        "maintMarginRatio": 0.004,
                        "cum": 0.0,
                    },
                ],
            }
            for symbol in PERPETUALS
        ]

    def _set_leverage(self, params: dict[str, str]) -> Json:
        self._perpetual(params)
        leverage = params.get("leverage", "")
        if not leverage.isdigit() or not 1 <= int(leverage) <= MAX_LEVERAGE:
            raise BinanceError(400, -4028, f"Leverage {leverage} is not valid")
        with self._lock:
            self.positions[params["symbol"]].leverage = int(leverage)
        return {"leverage": int(leverage), "maxNotionalValue": "50000", "symbol": params["symbol"]}

    def _mark(self, symbol: str) -> Decimal:
        spec = SYMBOLS[symbol]
        return (Decimal(spec["bid"]) + Decimal(spec["ask"])) / 2

    def _margins(self) -> tuple[Decimal, Decimal]:
        """Initial margin in use and unrealized profit, over all positions (lock held)."""
        margin = pnl = Decimal(0)
        for symbol, position in self.positions.items():
            mark = self._mark(symbol)
            margin += abs(position.amount) * mark / position.leverage
            pnl += position.amount * (mark - position.entry_price)
        return margin, pnl

    def _futures_account(self, _: dict[str, str]) -> Json:
        with self._lock:
            margin, pnl = self._margins()
            wallet = self.wallet
            rows = [self._position_row(s, p) for s, p in self.positions.items()]
        available = wallet + pnl - margin
        asset = {
            "asset": "USDT",
            "walletBalance": str(wallet),
            "unrealizedProfit": str(pnl),
            "marginBalance": str(wallet + pnl),
            "maintMargin": "0",
            "initialMargin": str(margin),
            "positionInitialMargin": str(margin),
            "openOrderInitialMargin": "0",
            "crossWalletBalance": str(wallet),
            "crossUnPnl": str(pnl),
            "availableBalance": str(available),
            "maxWithdrawAmount": str(available),
            "updateTime": _now_ms(),
        }
        return {
            "totalInitialMargin": str(margin),
            "totalMaintMargin": "0",
            "totalWalletBalance": str(wallet),
            "totalUnrealizedProfit": str(pnl),
            "totalMarginBalance": str(wallet + pnl),
            "totalPositionInitialMargin": str(margin),
            "totalOpenOrderInitialMargin": "0",
            "totalCrossWalletBalance": str(wallet),
            "totalCrossUnPnl": str(pnl),
            "availableBalance": str(available),
            "maxWithdrawAmount": str(available),
            "assets": [asset],
            "positions": [r for r in rows if Decimal(r["positionAmt"]) != 0],
        }

    def _futures_balance(self, params: dict[str, str]) -> Json:
        account = self._futures_account(params)
        assert isinstance(account, dict)
        [asset] = account["assets"]
        return [
            {
                "accountAlias": "SgAccount",
                "asset": "USDT",
                "balance": asset["walletBalance"],
                "crossWalletBalance": asset["crossWalletBalance"],
                "crossUnPnl": asset["crossUnPnl"],
                "availableBalance": asset["availableBalance"],
                "maxWithdrawAmount": asset["maxWithdrawAmount"],
                "marginAvailable": True,
                "updateTime": _now_ms(),
            }
        ]

    def _position_row(self, symbol: str, position: Position) -> dict[str, Any]:
        mark = self._mark(symbol)
        amount = position.amount
        margin = abs(amount) * mark / position.leverage
        liquidation = Decimal(0)
        if amount != 0:  # a rough isolated-style figure; what matters is that it is there
            liquidation = position.entry_price * (1 - Decimal(1) / position.leverage * (
                1 if amount > 0 else -1))  # fmt: skip
        return {
            "symbol": symbol,
            "positionSide": "BOTH",
            "positionAmt": str(amount),
            "entryPrice": str(position.entry_price),
            "breakEvenPrice": str(position.entry_price),
            "markPrice": str(mark),
            "unRealizedProfit": str(amount * (mark - position.entry_price)),
            "liquidationPrice": str(liquidation.quantize(Decimal("0.01"))),
            "isolatedMargin": "0",
            "notional": str(amount * mark),
            "marginAsset": "USDT",
            "isolatedWallet": "0",
            "initialMargin": str(margin),
            "maintMargin": str(abs(amount) * mark * Decimal("0.004")),
            "positionInitialMargin": str(margin),
            "openOrderInitialMargin": "0",
            "adl": 0,
            "bidNotional": "0",
            "askNotional": "0",
            "updateTime": _now_ms(),
        }

    def _position_risk(self, params: dict[str, str]) -> Json:
        with self._lock:
            return [
                self._position_row(symbol, position)
                for symbol, position in self.positions.items()
                if params.get("symbol") in (None, symbol)
            ]

    # --- orders --------------------------------------------------------------------------

    def _futures_create(self, params: dict[str, str]) -> Json:
        self._perpetual(params)
        symbol = params["symbol"]
        spec = SYMBOLS[symbol]
        side, kind = params.get("side", ""), params.get("type", "")
        if kind not in FUTURES_ORDER_TYPES:
            raise BinanceError(400, -1116, "Invalid orderType.")
        qty = Decimal(params.get("quantity", "0"))
        if qty < Decimal("0.001") or qty % Decimal("0.001") != 0:
            raise BinanceError(400, -1111, "Precision is over the maximum defined for this asset.")
        reduce_only = params.get("reduceOnly") == "true"
        fill_price = Decimal(spec["ask"] if side == "BUY" else spec["bid"])
        price = Decimal(params["price"]) if "price" in params else None
        client_id = params.get("newClientOrderId") or f"x-fake{next(self._ids)}"
        signed_qty = qty if side == "BUY" else -qty
        with self._lock:
            if any(
                o["clientOrderId"] == client_id and o["status"] in OPEN_STATES
                for o in self.futures_orders.values()
            ):
                raise BinanceError(400, -4116, "ClientOrderId is duplicated.")
            position = self.positions[symbol]
            if reduce_only and (
                position.amount == 0
                or (position.amount > 0) == (signed_qty > 0)
                or qty > abs(position.amount)
            ):
                raise BinanceError(400, -2022, "ReduceOnly Order is rejected.")
            fills_now = kind == "MARKET"
            if not reduce_only and qty * (price or fill_price) < 5:
                raise BinanceError(
                    400, -4164, "Order's notional must be no smaller than 5 (unless you choose "
                    "reduce only).")  # fmt: skip
            if fills_now and not reduce_only:
                margin, pnl = self._margins()
                needed = qty * fill_price / position.leverage
                if needed > self.wallet + pnl - margin:
                    raise BinanceError(400, -2019, "Margin is insufficient.")
            now = _now_ms()
            order_id = next(self._ids)
            order: dict[str, Any] = {
                "orderId": order_id,
                "symbol": symbol,
                "status": "NEW",
                "clientOrderId": client_id,
                "price": str(price or Decimal(0)),
                "avgPrice": "0",
                "origQty": str(qty),
                "executedQty": "0",
                "cumQty": "0",
                "cumQuote": "0",
                "timeInForce": params.get("timeInForce", "GTC"),
                "type": kind,
                "reduceOnly": reduce_only,
                "closePosition": False,
                "side": side,
                "positionSide": "BOTH",
                "stopPrice": params.get("stopPrice", "0"),
                "workingType": "CONTRACT_PRICE",
                "priceProtect": False,
                "origType": kind,
                "priceMatch": "NONE",
                "selfTradePreventionMode": "EXPIRE_MAKER",
                "goodTillDate": 0,
                "time": now,
                "updateTime": now,
            }
            if fills_now:
                self._fill(position, signed_qty, fill_price)
                cost = qty * fill_price
                order.update(status="FILLED", executedQty=str(qty), cumQty=str(qty),
                             cumQuote=str(cost), avgPrice=str(fill_price))  # fmt: skip
                self.futures_trades.append(
                    {
                        "buyer": side == "BUY",
                        "commission": "0",
                        "commissionAsset": "USDT",
                        "id": next(self._ids),
                        "maker": False,
                        "orderId": order_id,
                        "price": str(fill_price),
                        "qty": str(qty),
                        "quoteQty": str(cost),
                        "realizedPnl": "0",
                        "side": side,
                        "positionSide": "BOTH",
                        "symbol": symbol,
                        "time": now,
                    }
                )
            self.futures_orders[order_id] = order
            return _public(order)

    def _fill(self, position: Position, signed_qty: Decimal, price: Decimal) -> None:
        """Move the position (lock held): grow it at a blended entry, or realize the shrink."""
        old = position.amount
        new = old + signed_qty
        if old == 0 or (old > 0) == (signed_qty > 0):
            position.entry_price = (old * position.entry_price + signed_qty * price) / new
        else:
            closed = min(abs(signed_qty), abs(old)) * (1 if old > 0 else -1)
            self.wallet += closed * (price - position.entry_price)
            if new == 0:
                position.entry_price = Decimal(0)
            elif (new > 0) != (old > 0):  # flipped: the rest opens at this price
                position.entry_price = price
        position.amount = new

    def _futures_find(self, params: dict[str, str]) -> dict[str, Any]:
        self._perpetual(params)
        return find_order(self.futures_orders.values(), params)

    def _futures_fetch(self, params: dict[str, str]) -> Json:
        with self._lock:
            return _public(self._futures_find(params))

    def _futures_cancel(self, params: dict[str, str]) -> Json:
        with self._lock:
            try:
                order = self._futures_find(params)
            except BinanceError:
                raise BinanceError(400, -2011, "Unknown order sent.") from None
            if order["status"] not in OPEN_STATES:
                raise BinanceError(400, -2011, "Unknown order sent.")
            order.update(status="CANCELED", updateTime=_now_ms())
            return _public(order)

    def _futures_open_orders(self, params: dict[str, str]) -> Json:
        with self._lock:
            return [
                _public(o)
                for o in self.futures_orders.values()
                if o["status"] in OPEN_STATES and params.get("symbol") in (None, o["symbol"])
            ]

    def _futures_all_orders(self, params: dict[str, str]) -> Json:
        self._perpetual(params)
        with self._lock:
            return [_public(o) for o in self.futures_orders.values()
                    if o["symbol"] == params["symbol"]]  # fmt: skip

    def _user_trades(self, params: dict[str, str]) -> Json:
        self._perpetual(params)
        since = int(params.get("startTime", "0"))
        with self._lock:
            return [
                t
                for t in self.futures_trades
                if t["symbol"] == params["symbol"] and t["time"] >= since
            ]
