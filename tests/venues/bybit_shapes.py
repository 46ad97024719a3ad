"""What the Bybit fake (tests/venues/bybit.py) answers, shaped as Bybit v5 answers it: the
envelope, its error codes, and the rows of instruments, orders, executions, positions and the
unified wallet (field names and string-typed numbers as in ccxt's
ts/src/test/static/response/bybit.json and Bybit's v5 docs)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from tests.venues.core import (
    CANCELED,
    FILLED,
    LIMIT,
    OPEN,
    STOP_LIMIT,
    TAKE_PROFIT_LIMIT,
    Answer,
    Json,
    MarketSpec,
    Order,
    Trade,
    VenueError,
    now_ms,
)

SPOT, LINEAR = "spot", "linear"

# the engine's refusal -> (spot retCode, retMsg), (linear retCode, retMsg); ccxt's bybit
# `exceptions` maps each code (or, for 10001 "Not supported symbols", the message)
ERRORS: dict[str, tuple[tuple[int, str], tuple[int, str]]] = {
    "symbol": ((10001, "Not supported symbols"), (10001, "Not supported symbols")),
    "amount_step": ((170137, "Order quantity has too many decimals."), (10001, "Qty invalid")),
    "min_amount": (
        (170136, "Order quantity lower than the minimum."),
        (10001, "The number of contracts exceeds minimum limit allowed"),
    ),
    "price_step": ((170134, "Order price has too many decimals."), (10001, "Price invalid")),
    "min_notional": (
        (170140, "Order value exceeded lower limit."),
        (110094, "Order does not meet minimum order value 5USDT"),
    ),
    "funds": ((170131, "Insufficient balance."), (110007, "ab not enough for new order")),
    "duplicate": ((170141, "Duplicate clientOrderId."), (110072, "OrderLinkedID is duplicate")),
    "would_trigger": (
        (170130, "Data sent for paramter 'triggerPrice' is not valid."),
        (110092, "expect Rising, but trigger_price <= current"),
    ),
    "reduce_only": (
        (170130, "Data sent for paramter 'reduceOnly' is not valid."),
        (110017, "current position is zero, cannot fix reduce-only order qty"),
    ),
    "not_found": ((170213, "Order does not exist."), (110001, "Order does not exist.")),
    "not_open": (
        (170213, "Order does not exist."),
        (110001, "order not exists or too late to cancel"),
    ),
    "leverage": ((10001, "leverage invalid"), (10001, "leverage invalid")),
    "position_mode": (
        (10001, "position idx not match position mode"),
        (10001, "position idx not match position mode"),
    ),
}


def envelope(code: int, message: str, result: Json) -> dict[str, Any]:
    return {"retCode": code, "retMsg": message, "result": result, "retExtInfo": {},
            "time": now_ms()}  # fmt: skip


def ok(result: Json) -> Answer:
    return 200, envelope(0, "OK", result)


def failure(code: int, message: str) -> VenueError:
    """Bybit refuses inside its envelope, with HTTP 200."""
    return VenueError(200, envelope(code, message, {}))


def text(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


def decimal(value: object) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def spot_btc() -> MarketSpec:
    """BTCUSDT spot as instruments-info shows it (basePrecision, minOrderQty, minOrderAmt)."""
    d = Decimal
    return MarketSpec("spot:BTCUSDT", "BTC", "USDT", tick=d("0.01"), step=d("0.000001"),
                      min_amount=d("0.000048"), min_notional=d(5), bid=d("60000.00"),
                      ask=d("60000.10"))  # fmt: skip


def linear_btc() -> MarketSpec:
    """The BTCUSDT perpetual (qtyStep, minOrderQty, minNotionalValue; contract size 1)."""
    d = Decimal
    return MarketSpec("linear:BTCUSDT", "BTC", "USDT", tick=d("0.1"), step=d("0.001"),
                      min_amount=d("0.001"), min_notional=d(5), bid=d("60000.0"),
                      ask=d("60000.1"), swap=True, max_leverage=100)  # fmt: skip


def symbol_of(spec: MarketSpec) -> str:
    return spec.id.split(":")[1]


def instrument(spec: MarketSpec) -> dict[str, Any]:
    row: dict[str, Any] = {"symbol": symbol_of(spec), "baseCoin": spec.base,
                           "quoteCoin": spec.quote, "status": "Trading",
                           "priceFilter": {"tickSize": text(spec.tick)}}  # fmt: skip
    if not spec.swap:
        row["lotSizeFilter"] = {
            "basePrecision": text(spec.step), "quotePrecision": "0.00000001",
            "minOrderQty": text(spec.min_amount), "maxOrderQty": "1000",
            "minOrderAmt": text(spec.min_notional), "maxOrderAmt": "8000000",
        }  # fmt: skip
        return {**row, "innovation": "0", "marginTrading": "both"}
    row["priceFilter"] |= {"minPrice": text(spec.tick), "maxPrice": "1999999.8"}
    row["lotSizeFilter"] = {
        "maxOrderQty": "1190", "minOrderQty": text(spec.min_amount),
        "qtyStep": text(spec.step), "postOnlyMaxOrderQty": "1190",
        "maxMktOrderQty": "500", "minNotionalValue": text(spec.min_notional),
    }  # fmt: skip
    return {**row, "contractType": "LinearPerpetual", "launchTime": "1585526400000",
            "deliveryTime": "0", "priceScale": "1", "settleCoin": spec.quote,
            "leverageFilter": {"minLeverage": "1", "maxLeverage": str(spec.max_leverage),
                               "leverageStep": "0.01"},
            "unifiedMarginTrade": True, "fundingInterval": 480}  # fmt: skip


def api_key_info(api_key: str) -> dict[str, Any]:
    # "uta": 1 is how ccxt's is_unified_enabled tells a unified trading account
    return {"id": "1", "note": "signalgate", "apiKey": api_key, "readOnly": 0, "secret": "",
            "permissions": {"Spot": ["SpotTrade"], "ContractTrade": ["Order", "Position"],
                            "Wallet": ["AccountTransfer"]},
            "ips": ["*"], "type": 1, "deadlineDay": 90, "unified": 0, "uta": 1, "userID": 1,
            "inviterID": 0, "vipLevel": "No VIP", "isMaster": True}  # fmt: skip


def account_info() -> dict[str, Any]:
    return {"unifiedMarginStatus": 6, "marginMode": "REGULAR_MARGIN", "dcpStatus": "OFF",
            "timeWindow": 10, "smpGroup": 0, "isMasterTrader": False,
            "spotHedgingStatus": "OFF", "updatedTime": str(now_ms())}  # fmt: skip


def wallet_coin(asset: str, total: Decimal, locked: Decimal, order_margin: Decimal,
                position_margin: Decimal) -> dict[str, Any]:  # fmt: skip
    """A coin of the UNIFIED wallet: availableToWithdraw is "" (UTA 2.0), so ccxt takes
    what is free as the wallet balance less locked, totalOrderIM and totalPositionIM."""
    return {"coin": asset, "walletBalance": text(total), "equity": text(total),
            "locked": text(locked), "totalOrderIM": text(order_margin),
            "totalPositionIM": text(position_margin), "totalPositionMM": "0",
            "availableToWithdraw": "", "availableToBorrow": "", "borrowAmount": "0",
            "accruedInterest": "0", "unrealisedPnl": "0", "cumRealisedPnl": "0", "bonus": "0",
            "collateralSwitch": True, "marginCollateral": True, "spotHedgingQty": "0",
            "usdValue": text(total)}  # fmt: skip


def wallet(coins: list[dict[str, Any]]) -> dict[str, Any]:
    totals = ("totalEquity", "totalWalletBalance", "totalMarginBalance", "totalAvailableBalance",
              "totalPerpUPL", "totalInitialMargin", "totalMaintenanceMargin")  # fmt: skip
    account = {"accountType": "UNIFIED", "coin": coins, "accountIMRate": "0",
               "accountMMRate": "0", "accountLTV": "0", **dict.fromkeys(totals, "0")}  # fmt: skip
    return {"list": [account]}


def order_status(order: Order) -> str:
    untriggered = order.conditional and not order.triggered
    if order.status == OPEN:
        return "Untriggered" if untriggered else ("PartiallyFilled" if order.filled else "New")
    if order.status == FILLED:
        return "Filled"
    if order.status == CANCELED:
        if untriggered:
            return "Deactivated"
        return "PartiallyFilledCanceled" if order.filled else "Cancelled"
    return "Rejected"


def order_type(order: Order) -> str:
    return "Limit" if order.kind in (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT) else "Market"


def order_row(order: Order, spec: MarketSpec) -> dict[str, Any]:
    """An order as /v5/order/realtime and /v5/order/history list it."""
    extra = order.extra
    remaining = order.remaining if order.status == OPEN else Decimal(0)
    row = {
        "orderId": order.id, "orderLinkId": order.client_id, "blockTradeId": "",
        "symbol": symbol_of(spec), "price": text(order.price or Decimal(0)),
        "qty": extra["qty"], "side": order.side.capitalize(),
        "isLeverage": "" if spec.swap else "0", "positionIdx": extra["positionIdx"],
        "orderStatus": order_status(order), "createType": "CreateByUser",
        "cancelType": extra.get("cancelType", "UNKNOWN"), "rejectReason": "EC_NoError",
        "avgPrice": text(order.average) if order.average else "",
        "leavesQty": text(remaining), "leavesValue": text(remaining * (order.price or 0)),
        "cumExecQty": text(order.filled), "cumExecValue": text(order.cost),
        "cumExecFee": text(order.fee),
        "cumFeeDetail": {extra.get("feeCoin", spec.quote): text(order.fee)} if order.fee else {},
        "timeInForce": extra["timeInForce"], "orderType": order_type(order),
        "stopOrderType": {"StopOrder": "Stop", "tpslOrder": "tpslOrder"}.get(extra["filter"], ""),
        "orderIv": "", "triggerPrice": text(order.trigger),
        "triggerDirection": extra["direction"],
        "triggerBy": "LastPrice" if order.trigger is not None else "",
        "takeProfit": "", "stopLoss": "", "tpTriggerBy": "", "slTriggerBy": "",
        "tpLimitPrice": "", "slLimitPrice": "",
        "lastPriceOnCreated": extra["lastPriceOnCreated"], "reduceOnly": order.reduce_only,
        "closeOnTrigger": False, "placeType": "", "smpType": "None", "smpGroup": 0,
        "smpOrderId": "", "marketUnit": extra["marketUnit"],
        "createdTime": str(order.created_ms), "updatedTime": str(order.updated_ms),
    }  # fmt: skip
    if spec.swap:
        row["tpslMode"] = ""  # contract orders carry it: ccxt tells them from spot ones by it
    return row


def execution_row(
    trade: Trade, order: Order, spec: MarketSpec, fee_rate: Decimal
) -> dict[str, Any]:
    row = {
        "symbol": symbol_of(spec), "orderId": order.id, "orderLinkId": order.client_id,
        "side": trade.side.capitalize(), "orderPrice": text(order.price or Decimal(0)),
        "orderQty": order.extra["qty"], "leavesQty": text(order.remaining),
        "orderType": order_type(order), "stopOrderType": "", "execFee": text(trade.fee),
        "execId": trade.id, "execPrice": text(trade.price), "execQty": text(trade.amount),
        "execType": "Trade", "execValue": text(trade.price * trade.amount),
        "execTime": str(trade.at_ms), "isMaker": trade.maker, "feeRate": text(fee_rate),
        "feeCurrency": order.extra.get("feeCoin", spec.quote), "markPrice": "",
        "closedSize": "", "seq": int(trade.id), "marketUnit": order.extra["marketUnit"],
    }  # fmt: skip
    if spec.swap:
        row["createType"] = "CreateByUser"  # ccxt tells contract executions by it
    return row


def position_row(spec: MarketSpec, index: int, side: str, size: Decimal, entry: Decimal,
                 leverage: int, mark: Decimal) -> dict[str, Any]:  # fmt: skip
    """A row of /v5/position/list: positionIdx 0 in one-way mode, 1 (long) and 2 (short) in
    hedge mode; side "" and size "0" when flat."""
    value = size * entry
    sign = 1 if side == "Buy" else -1
    return {"symbol": symbol_of(spec), "positionIdx": index, "side": side, "size": text(size),
            "avgPrice": text(entry), "positionValue": text(value), "leverage": str(leverage),
            "markPrice": text(mark), "liqPrice": "", "bustPrice": "",
            "positionIM": text(value / leverage), "positionMM": "0",
            "positionBalance": text(value / leverage), "tpslMode": "Full",
            "unrealisedPnl": text(sign * (mark - entry) * size if size else Decimal(0)),
            "curRealisedPnl": "0", "cumRealisedPnl": "0", "riskId": 1,
            "riskLimitValue": "2000000", "takeProfit": "", "stopLoss": "", "trailingStop": "0",
            "positionStatus": "Normal", "adlRankIndicator": 0, "autoAddMargin": 0,
            "tradeMode": 0, "isReduceOnly": False, "seq": 1, "createdTime": "1700000000000",
            "updatedTime": str(now_ms())}  # fmt: skip
