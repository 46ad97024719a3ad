"""How BingX's swap API shows an order, a fill and a position (tests/venues/bingx.py answers with
them): the fields and their types as ccxt 4.5.90's bingx.py comments and ccxt's recorded answers
show them (e.g. the create answer's numeric `orderId` and `clientOrderID`, the queries' string
`orderId`, `clientOrderId` and empty `takeProfit` / `stopLoss` objects)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.venues import core
from tests.venues.core import Order, Trade

STATUSES = {core.OPEN: "NEW", core.FILLED: "FILLED", core.CANCELED: "CANCELLED"}


def text(value: Decimal | None, empty: str = "") -> str:
    return empty if value is None else f"{value.normalize():f}"


def created(order: Order) -> dict[str, Any]:
    """The create answer (data.order): what was asked, and how a market order went."""
    return {"orderId": int(order.id), "symbol": order.symbol,
            "positionSide": order.extra["positionSide"], "side": order.side.upper(),
            "type": order.extra["type"], "price": float(order.price or 0),
            "quantity": float(order.amount), "stopPrice": float(order.trigger or 0),
            "workingType": "MARK_PRICE", "clientOrderID": order.client_id, "timeInForce": "GTC",
            "priceRate": 0, "stopLoss": "", "takeProfit": "", "reduceOnly": order.reduce_only,
            "status": STATUSES[order.status], "avgPrice": text(order.average, "0"),
            "executedQty": text(order.filled)}  # fmt: skip


def order_json(order: Order, leverage: int, one_way: bool) -> dict[str, Any]:
    """An order as trade/order, openOrders, allOrders and a cancel show it."""
    status = STATUSES[order.status]
    if order.status == core.OPEN and order.filled > 0:
        status = "PARTIALLY_FILLED"
    empty = {"type": "", "quantity": 0, "stopPrice": 0, "price": 0, "workingType": "",
             "stopGuaranteed": ""}  # fmt: skip
    return {"symbol": order.symbol, "orderId": order.id, "side": order.side.upper(),
            "positionSide": order.extra["positionSide"], "type": order.extra["type"],
            "origQty": text(order.amount), "price": text(order.price, "0"),
            "executedQty": text(order.filled), "avgPrice": text(order.average, "0"),
            "cumQuote": text(order.cost), "stopPrice": text(order.trigger), "profit": "0.0000",
            "commission": text(-order.fee), "status": status, "time": order.created_ms,
            "updateTime": order.updated_ms, "clientOrderId": order.client_id,
            "leverage": f"{leverage}X", "takeProfit": empty, "stopLoss": empty,
            "advanceAttr": 0, "positionID": 0, "takeProfitEntrustPrice": 0,
            "stopLossEntrustPrice": 0, "orderType": "", "workingType": "MARK_PRICE",
            "onlyOnePosition": one_way, "reduceOnly": order.reduce_only}  # fmt: skip


def fill_json(trade: Trade, order: Order, one_way: bool) -> dict[str, Any]:
    """A fill as trade/allFillOrders shows it (`tradingUnit=CONT`: one coin per contract)."""
    at = datetime.fromtimestamp(trade.at_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"filledTm": at, "symbol": trade.symbol, "volume": text(trade.amount),
            "price": text(trade.price), "amount": text(trade.amount * trade.price),
            "commission": text(-trade.fee), "currency": "USDT", "orderId": order.id,
            "liquidatedPrice": "0.00", "liquidatedMarginRatio": "0.00",
            "workingType": "MARK_PRICE", "filledTime": at, "side": trade.side.upper(),
            "type": order.extra["type"], "positionSide": order.extra["positionSide"],
            "clientOrderID": order.client_id, "onlyOnePosition": one_way}  # fmt: skip


def position_json(symbol: str, position: core.Position, last: Decimal, leverage: int,
                  one_way: bool, number: int) -> dict[str, Any]:  # fmt: skip
    """A position as user/positions shows it: one-way too, LONG or SHORT with a positive
    amount (`onlyOnePosition` says the mode)."""
    amount = abs(position.amount)
    return {"positionId": str(1_792_000_000_000_000_000 + number), "symbol": symbol,
            "currency": "USDT", "positionAmt": text(amount), "availableAmt": text(amount),
            "positionSide": "LONG" if position.amount > 0 else "SHORT", "isolated": False,
            "avgPrice": text(position.entry), "initialMargin": text(amount * position.entry
                                                                   / leverage),
            "margin": "0", "leverage": leverage,
            "unrealizedProfit": text((last - position.entry) * position.amount),
            "realisedProfit": "0", "liquidationPrice": 0, "pnlRatio": "0",
            "maxMarginReduction": "0.0000", "riskRate": "0.0008", "markPrice": text(last),
            "positionValue": text(amount * last), "onlyOnePosition": one_way,
            "updateTime": core.now_ms()}  # fmt: skip
