"""ccxt's unified structures (markets, books, balances, orders, fills, positions) in the
domain's and the port's types. Money goes through the values' text, never through float math.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from app.domain.market import Level, Market, MarketKind, OrderBook
from app.domain.orders import Fill, OrderKind, OrderRequest, OrderState, OrderStatus, Side
from app.ports.exchange import Balance, Position

RawOrder = dict[str, Any]

_STATES: dict[str, OrderState] = {
    "closed": OrderState.FILLED,
    "canceled": OrderState.CANCELLED,
    "canceling": OrderState.CANCEL_PENDING,
    "rejected": OrderState.REJECTED,
    "expired": OrderState.EXPIRED,
}


def decimal_or_none(value: object) -> Decimal | None:
    """ccxt's floats (or strings) as Decimal, through their shortest text form; None for what
    is missing or not a number."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _dec0(value: object) -> Decimal:
    return decimal_or_none(value) or Decimal(0)


def utc(milliseconds: object) -> datetime | None:
    """A ccxt timestamp (milliseconds since the epoch) as an aware datetime; None when missing."""
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int | float):
        return None
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def levels(rows: Sequence[Sequence[Any]], depth: int) -> tuple[Level, ...]:
    """The first `depth` price levels of one side of a ccxt book; a level without a readable
    price or amount is left out."""
    kept = []
    for price, amount, *_ in rows[:depth]:
        p, a = decimal_or_none(price), decimal_or_none(amount)
        if p is not None and a is not None:
            kept.append(Level(p, a))
    return tuple(kept)


def market(raw: Mapping[str, Any]) -> Market:
    """ccxt's market, amounts in coins: a swap's contract amounts times its contract size."""
    precision = raw.get("precision") or {}
    limits = raw.get("limits") or {}
    size = contract_size(raw)
    step = decimal_or_none(precision.get("amount"))
    return Market(
        symbol=raw["symbol"],
        base=raw["base"],
        quote=raw["quote"],
        kind=MarketKind.SWAP if raw.get("swap") else MarketKind.SPOT,
        settle=raw.get("settle"),
        active=raw.get("active") is not False,
        amount_step=step * size if step else Decimal("0.00000001"),
        price_step=decimal_or_none(precision.get("price")) or Decimal("0.01"),
        min_amount=_dec0((limits.get("amount") or {}).get("min")) * size,
        min_cost=_dec0((limits.get("cost") or {}).get("min")),
        taker_fee=decimal_or_none(raw.get("taker")) or Decimal("0.001"),
        maker_fee=decimal_or_none(raw.get("maker")) or Decimal("0.001"),
        contract_size=size,
    )


def contract_size(raw: Mapping[str, Any]) -> Decimal:
    """Coins per contract of a ccxt market: 1 for spot (and where ccxt leaves it out)."""
    if not raw.get("contract"):
        return Decimal(1)
    size = decimal_or_none(raw.get("contractSize"))
    return size if size is not None and size > 0 else Decimal(1)


def order_book(symbol: str, raw: Mapping[str, Any], depth: int) -> OrderBook:
    return OrderBook(
        symbol=symbol,
        bids=levels(raw.get("bids") or [], depth),
        asks=levels(raw.get("asks") or [], depth),
        at=utc(raw.get("timestamp")),
    )


def balances(raw: Mapping[str, Any]) -> dict[str, Balance]:
    free: dict[str, object] = raw.get("free") or {}
    used: dict[str, object] = raw.get("used") or {}
    return {
        asset: Balance(asset, _dec0(amount), _dec0(used.get(asset)))
        for asset, amount in free.items()
    }


def client_id(raw: RawOrder, prefix: str) -> str:
    """The client order id of a ccxt order, without what the venue prepends to ours."""
    found = str(raw.get("clientOrderId") or "")
    return found[len(prefix) :] if prefix and found.startswith(prefix) else found


def order_status(
    raw: RawOrder,
    prefix: str,
    request: OrderRequest | None = None,
    *,
    size: Decimal = Decimal(1),
    mark: str = "",
) -> OrderStatus:
    """ccxt's order in the port's types, our client id without the venue's `prefix`; what the
    venue leaves out is taken from the `request` that placed it, when there is one. Amounts in
    coins (`size`: coins per contract); `mark` goes before the venue's order id."""
    if prefix and raw.get("clientOrderId"):
        raw = {**raw, "clientOrderId": client_id(raw, prefix)}
    fee = raw.get("fee") or {}
    amount = decimal_or_none(raw.get("amount"))
    return OrderStatus(
        order_id=mark + str(raw["id"]),
        client_order_id=raw.get("clientOrderId") or (request.client_order_id if request else ""),
        symbol=raw.get("symbol") or (request.symbol if request else ""),
        side=Side(raw["side"]) if raw.get("side") else (request.side if request else Side.BUY),
        kind=request.kind if request else _kind(raw),
        state=_state(raw),
        amount=amount * size if amount is not None else (request.amount if request else Decimal(0)),
        filled=_dec0(raw.get("filled")) * size,
        average_price=decimal_or_none(raw.get("average")),
        price=decimal_or_none(raw.get("price")) or None,
        trigger_price=_trigger(raw),
        fee=_dec0(fee.get("cost")),
        fee_currency=fee.get("currency"),
        reduce_only=bool(raw.get("reduceOnly")) or (request.reduce_only if request else False),
        updated_at=utc(raw.get("lastUpdateTimestamp") or raw.get("timestamp")),
    )


def _trigger(raw: RawOrder) -> Decimal | None:
    """The order's trigger: ccxt shows a position's stop-loss or take-profit order (BingX's
    STOP_MARKET, TAKE_PROFIT_MARKET) with its trigger as `stopLossPrice` / `takeProfitPrice`
    and `triggerPrice` empty."""
    for key in ("triggerPrice", "stopLossPrice", "takeProfitPrice"):
        if (found := decimal_or_none(raw.get(key))) is not None:
            return found
    return None


def _kind(raw: RawOrder) -> OrderKind:
    if raw.get("type") == "limit":
        return OrderKind.LIMIT
    if raw.get("takeProfitPrice") is not None:
        return OrderKind.TAKE_PROFIT_MARKET
    if raw.get("triggerPrice") is not None or raw.get("stopLossPrice") is not None:
        return OrderKind.STOP_MARKET
    return OrderKind.MARKET


def _state(raw: RawOrder) -> OrderState:
    status = raw.get("status")
    if status == "open":
        return OrderState.PARTIALLY_FILLED if _dec0(raw.get("filled")) > 0 else OrderState.ACCEPTED
    return _STATES.get(str(status), OrderState.UNKNOWN)


def position(raw: Mapping[str, Any], size: Decimal = Decimal(1)) -> Position:
    """ccxt's position; the amount in coins (`size`: coins per contract), signed by side."""
    contracts = _dec0(raw.get("contracts")) * size
    return Position(
        symbol=raw["symbol"],
        amount=-contracts if raw.get("side") == "short" else contracts,
        entry_price=_dec0(raw.get("entryPrice")),
        mark_price=decimal_or_none(raw.get("markPrice")),
        leverage=decimal_or_none(raw.get("leverage")),
        unrealized_pnl=decimal_or_none(raw.get("unrealizedPnl")),
        liquidation_price=decimal_or_none(raw.get("liquidationPrice")) or None,
    )


def fill(raw: Mapping[str, Any], size: Decimal = Decimal(1)) -> Fill:
    fee = raw.get("fee") or {}
    at = utc(raw.get("timestamp"))
    return Fill(
        order_id=str(raw.get("order") or ""),
        client_order_id=str(raw.get("clientOrderId") or ""),  # Binance's trades do not carry it
        symbol=raw["symbol"],
        side=Side(raw["side"]),
        price=_dec0(raw.get("price")),
        amount=_dec0(raw.get("amount")) * size,
        fee=_dec0(fee.get("cost")),
        fee_currency=str(fee.get("currency") or ""),
        at=at or datetime.now(UTC),
        maker=raw.get("takerOrMaker") == "maker",
    )
