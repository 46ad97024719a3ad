"""OKX v5's answer shapes for the fake (tests/venues/okx.py): orders, algo orders, fills and
positions as docs-v5 shows them ("Get order details", "GET / Algo order details", "Transaction
details", "Get positions"). Every number is a string; amounts on swaps count contracts."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tests.venues import core
from tests.venues.core import Json, Order, Position, Refusal, Trade

if TYPE_CHECKING:
    from tests.venues.okx import OkxVenue


# engine refusals -> OKX's sCode and sMsg (the error-code table of docs-v5)
ERRORS: dict[str, tuple[str, str]] = {
    "symbol": ("51001", "Instrument ID does not exist."),
    "amount_step": ("51121", "Order quantity must be a multiple of the lot size."),
    "min_amount": ("51020", "Your order should meet or exceed the minimum order amount."),
    "min_notional": ("51020", "Your order should meet or exceed the minimum order amount."),
    "price_step": ("51000", "Parameter px error"),
    "funds": ("51008", "Order failed. Insufficient USDT balance in account."),
    "duplicate": ("51016", "Duplicated clOrdId"),
    "reduce_only": (
        "51169",
        "Order failed because you don't have any positions in this"
        " direction for this contract to reduce or close.",
    ),
    "not_found": (
        "51400",
        "Cancellation failed as the order has been filled, canceled or does not exist.",
    ),
    "not_open": (
        "51400",
        "Cancellation failed as the order has been filled, canceled or does not exist.",
    ),
    "leverage": ("59102", "Leverage exceeds the maximum leverage. Please adjust the leverage."),
    "position_mode": ("51000", "Parameter posSide error"),
}
# a trigger already crossed: (take-profit?, side) -> code, message
WRONG_SIDE = {
    (True, "sell"): ("51279", "TP trigger price cannot be lower than the last price."),
    (True, "buy"): ("51277", "TP trigger price cannot be higher than the last price."),
    (False, "sell"): ("51280", "SL trigger price cannot be higher than the last price."),
    (False, "buy"): ("51278", "SL trigger price cannot be lower than the last price."),
}


class Failed(Exception):
    """One order (or one request) refused with OKX's code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code} {message}")
        self.code, self.message = code, message


def refusal_of(refusal: Refusal) -> Failed:
    code, message = ERRORS[refusal.reason]
    if refusal.reason == "reduce_only" and refusal.detail == "spot":
        code, message = "51205", "Reduce Only is not available."
    if refusal.reason == "funds":
        message = f"Order failed. Insufficient {refusal.detail.split()[0]} balance in account."
    return Failed(code, message)


def ok(data: list[Any]) -> Json:
    return {"code": "0", "msg": "", "data": data}


def _s(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


def child_id(venue: OkxVenue, order: Order) -> str:
    """The id of the market order a triggered algo order placed (given when first shown)."""
    if order.triggered and "child" not in order.extra:
        order.extra["child"] = venue.next_id()
    return str(order.extra.get("child", ""))


def _regular_state(order: Order) -> str:
    if order.status == core.OPEN:
        return "partially_filled" if order.filled else "live"
    return {core.FILLED: "filled", core.CANCELED: "canceled"}.get(order.status, "canceled")


def _algo_state(order: Order) -> str:
    if order.triggered:
        return "effective"
    return {core.OPEN: "live", core.CANCELED: "canceled"}.get(order.status, "order_failed")


def order_json(venue: OkxVenue, order: Order) -> dict[str, Any]:
    """A regular order; for a triggered algo order, the order it placed (its `ordIdList`)."""
    spec = venue.markets[order.symbol]
    algo = order.id in venue.algo_ids
    trades = [t for t in venue.trades if t.order_id == order.id]
    last = trades[-1] if trades else None
    limit = order.kind in (core.LIMIT, core.STOP_LIMIT, core.TAKE_PROFIT_LIMIT)
    return {
        "instType": "SWAP" if spec.swap else "SPOT",
        "instId": spec.id,
        "tgtCcy": "" if spec.swap else "base_ccy",
        "ccy": "",
        "ordId": child_id(venue, order) if algo else order.id,
        "clOrdId": "" if algo else order.client_id,
        "tag": order.extra.get("tag", ""),
        "px": _s(order.price) if limit else "",
        "pxUsd": "", "pxVol": "", "pxType": "",
        "sz": _s(order.amount),
        "pnl": "0",
        "ordType": "limit" if limit else "market",
        "side": order.side,
        "posSide": "net" if spec.swap else "",
        "tdMode": order.extra.get("tdMode") or ("cross" if spec.swap else "cash"),
        "accFillSz": _s(order.filled),
        "fillPx": _s(last.price) if last else "",
        "tradeId": last.id if last else "",
        "fillSz": _s(last.amount) if last else "",
        "fillTime": str(last.at_ms) if last else "",
        "avgPx": _s(order.average),
        "state": _regular_state(order),
        "stpId": "", "stpMode": "cancel_maker",
        "lever": str(venue.leverage.get(spec.id, 1)) if spec.swap else "",
        "attachAlgoClOrdId": "", "tpTriggerPx": "", "tpTriggerPxType": "", "tpOrdPx": "",
        "slTriggerPx": "", "slTriggerPxType": "", "slOrdPx": "", "attachAlgoOrds": [],
        "feeCcy": spec.quote,
        "fee": _s(-order.fee) if order.fee else "0",
        "rebateCcy": spec.quote, "rebate": "0",
        "source": "",
        "category": "normal",
        "reduceOnly": "true" if order.reduce_only else "false",
        "isTpLimit": "false",
        "cancelSource": "", "cancelSourceReason": "",
        "quickMgnType": "",
        "algoClOrdId": order.client_id if algo else "",
        "algoId": order.id if algo else "",
        "uTime": str(order.updated_ms),
        "cTime": str(order.extra.get("triggered_ms", order.created_ms)),
    }  # fmt: skip


def algo_json(venue: OkxVenue, order: Order) -> dict[str, Any]:
    """An algo order (conditional or trigger): no fills of its own, only its trigger."""
    spec = venue.markets[order.symbol]
    conditional = order.extra.get("ordType") == "conditional"
    prefix = order.extra.get("prefix", "")
    limit = _s(order.price) if order.price is not None else "-1"
    prices = {f"{p}{k}": "" for p in ("sl", "tp") for k in ("TriggerPx", "TriggerPxType", "OrdPx")}
    if conditional:
        prices |= {f"{prefix}TriggerPx": _s(order.trigger), f"{prefix}TriggerPxType": "last",
                   f"{prefix}OrdPx": limit}  # fmt: skip
    child = child_id(venue, order)
    return {
        "instType": "SWAP" if spec.swap else "SPOT",
        "instId": spec.id,
        "ccy": "",
        "ordId": child,
        "ordIdList": [child] if child else [],
        "algoId": order.id,
        "clOrdId": order.client_id,
        "algoClOrdId": order.client_id,
        "sz": _s(order.amount),
        "closeFraction": "",
        "ordType": order.extra.get("ordType"),
        "side": order.side,
        "posSide": "net",
        "tdMode": order.extra.get("tdMode"),
        "tgtCcy": "",
        "state": _algo_state(order),
        "lever": str(venue.leverage.get(spec.id, 1)) if spec.swap else "",
        **prices,
        "triggerPx": "" if conditional else _s(order.trigger),
        "triggerPxType": "" if conditional else "last",
        "ordPx": "" if conditional else limit,
        "advanceOrdType": "",
        "actualSz": _s(order.amount) if order.triggered else "0",
        "actualPx": "",
        "actualSide": (prefix if conditional else "") if order.triggered else "",
        "triggerTime": str(order.extra.get("triggered_ms", "")),
        "pxVar": "", "pxSpread": "", "szLimit": "", "pxLimit": "", "timeInterval": "",
        "callbackRatio": "", "callbackSpread": "", "activePx": "", "moveTriggerPx": "",
        "reduceOnly": "true" if order.reduce_only else "false",
        "quickMgnType": "",
        "last": _s(venue.last[spec.id]),
        "failCode": "",
        "amendPxOnTriggerType": "0",
        "attachAlgoOrds": [],
        "linkedOrd": {"ordId": ""},
        "isTradeBorrowMode": "",
        "tag": order.extra.get("tag", ""),
        "cTime": str(order.created_ms),
        "uTime": str(order.updated_ms),
    }  # fmt: skip


def trade_json(venue: OkxVenue, trade: Trade) -> dict[str, Any]:
    spec = venue.markets[trade.symbol]
    order = venue.orders[trade.order_id]
    algo = order.id in venue.algo_ids
    return {
        "instType": "SWAP" if spec.swap else "SPOT",
        "instId": spec.id,
        "tradeId": trade.id,
        "ordId": child_id(venue, order) if algo else order.id,
        "clOrdId": "" if algo else order.client_id,
        "billId": trade.id,
        "subType": "1" if trade.side == "buy" else "2",
        "tag": "",
        "fillPx": _s(trade.price),
        "fillSz": _s(trade.amount),
        "fillIdxPx": "", "fillPnl": "0", "fillPxVol": "", "fillPxUsd": "", "fillMarkVol": "",
        "fillFwdPx": "", "fillMarkPx": "",
        "side": trade.side,
        "posSide": "net" if spec.swap else "",
        "execType": "M" if trade.maker else "T",
        "feeCcy": spec.quote,
        "fee": _s(-trade.fee),
        "ts": str(trade.at_ms),
        "fillTime": str(trade.at_ms),
        "feeRate": "",
    }  # fmt: skip


def position_json(venue: OkxVenue, symbol: str, held: Position) -> dict[str, Any]:
    spec = venue.markets[symbol]
    mark = venue.last[symbol]
    lever = venue.leverage.get(symbol, 1)
    notional = abs(held.amount) * spec.contract_size * mark
    upl = (mark - held.entry) * held.amount * spec.contract_size
    now = str(core.now_ms())
    return {
        "instType": "SWAP", "instId": symbol, "mgnMode": "cross",
        "posId": f"7{sum(map(ord, symbol))}",
        "posSide": "net", "pos": _s(held.amount), "posCcy": "", "availPos": "",
        "avgPx": _s(held.entry), "nonSettleAvgPx": "", "upl": _s(upl), "uplRatio": _s(
            upl / (notional / lever) if notional else Decimal(0)), "uplLastPx": _s(upl),
        "lever": str(lever), "liqPx": "", "markPx": _s(mark), "imr": _s(notional / lever),
        "margin": "", "mgnRatio": "", "mmr": _s(notional * Decimal("0.004")),
        "liab": "", "liabCcy": "", "interest": "", "tradeId": "", "optVal": "",
        "notionalUsd": _s(notional), "adl": "1", "ccy": spec.quote, "last": _s(mark),
        "idxPx": _s(mark), "usdPx": "", "bePx": _s(held.entry), "deltaBS": "", "deltaPA": "",
        "gammaBS": "", "gammaPA": "", "thetaBS": "", "thetaPA": "", "vegaBS": "", "vegaPA": "",
        "spotInUseAmt": "", "spotInUseCcy": "", "clSpotInUseAmt": "", "maxSpotInUseAmt": "",
        "realizedPnl": "0", "pnl": "0", "fee": "0", "fundingFee": "0", "liqPenalty": "0",
        "closeOrderAlgo": [], "cTime": now, "uTime": now, "bizRefId": "", "bizRefType": "",
    }  # fmt: skip
