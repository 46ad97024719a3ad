"""Pionex's answers (restful/common/market-data, markets/get-depth, account/get-balance,
orders/*) in the domain's and the port's types. Money goes through the values' text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from app.domain.market import Level, Market, OrderBook
from app.domain.orders import Fill, OrderKind, OrderRequest, OrderState, OrderStatus, Side
from app.ports.exchange import Balance

_ZERO = Decimal(0)
FEE = Decimal("0.0005")  # Pionex's spot fee, maker and taker (https://www.pionex.com/en/fees)


class PionexMarket(msgspec.Struct, frozen=True):
    """A spot market as the adapter needs it: the venue's id and a market buy's precision."""

    id: str  # BTC_USDT
    market: Market
    amount_digits: int  # decimals of a market buy's quote amount (`amountPrecision`)


def decimal_or_none(value: object) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        found = Decimal(str(value))
    except InvalidOperation:
        return None
    return found if found.is_finite() else None


def _dec0(value: object) -> Decimal:
    return decimal_or_none(value) or _ZERO


def utc(milliseconds: object) -> datetime | None:
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int | float):
        return None
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def step(digits: object) -> Decimal:
    """The smallest step of a value with `digits` decimals."""
    return Decimal(1).scaleb(-int(str(digits)))


def markets(symbols: Sequence[Mapping[str, Any]]) -> dict[str, PionexMarket]:
    """The enabled spot markets, by unified symbol (BTC/USDT).

    `basePrecision` counts the decimals of a size, `quotePrecision` those of a price and
    `amountPrecision` those of a market buy's amount (Pionex's Chinese documentation says so
    plainly: "base货币交易量精度位数", "quote货币价格精度位数", "市价买额的精度位数").
    `minAmount` is the least value of an order (price x size, or a market buy's amount),
    `minTradeSize` the least size of a limit order and `minTradeDumping` that of a market
    sell."""
    found: dict[str, PionexMarket] = {}
    for raw in symbols:
        if str(raw.get("type") or "SPOT") != "SPOT":
            continue
        base, quote = str(raw["baseCurrency"]), str(raw["quoteCurrency"])
        least = max(_dec0(raw.get("minTradeSize")), _dec0(raw.get("minTradeDumping")))
        market = Market(
            symbol=f"{base}/{quote}",
            base=base,
            quote=quote,
            active=raw.get("enable") is not False,
            amount_step=step(raw["basePrecision"]),
            price_step=step(raw["quotePrecision"]),
            min_amount=least,
            min_cost=_dec0(raw.get("minAmount")),
            taker_fee=FEE,
            maker_fee=FEE,
        )
        found[market.symbol] = PionexMarket(
            str(raw["symbol"]), market, int(str(raw.get("amountPrecision", 8)))
        )
    return found


def levels(rows: Sequence[Sequence[Any]], depth: int) -> tuple[Level, ...]:
    kept = []
    for price, amount, *_ in rows[:depth]:
        p, a = decimal_or_none(price), decimal_or_none(amount)
        if p is not None and a is not None:
            kept.append(Level(p, a))
    return tuple(kept)


def order_book(symbol: str, data: Mapping[str, Any], depth: int) -> OrderBook:
    return OrderBook(
        symbol=symbol,
        bids=levels(data.get("bids") or [], depth),
        asks=levels(data.get("asks") or [], depth),
        at=utc(data.get("updateTime")),
    )


def balances(data: Mapping[str, Any]) -> dict[str, Balance]:
    return {
        str(row["coin"]): Balance(
            str(row["coin"]), _dec0(row.get("free")), _dec0(row.get("frozen"))
        )
        for row in data.get("balances") or []
    }


def _state(raw: Mapping[str, Any], filled: Decimal, size: Decimal | None) -> OrderState:
    """OPEN or CLOSED, the only statuses Pionex reports, with the fills: a closed order filled
    to its size is filled, one closed short of it was cancelled (the rest of a market sell the
    book could not take, too); a closed market buy (sized by its quote amount, no size) spent
    what it could."""
    status = raw.get("status")
    if status == "OPEN":
        return OrderState.PARTIALLY_FILLED if filled > 0 else OrderState.ACCEPTED
    if status != "CLOSED":
        return OrderState.UNKNOWN
    if size is None or size == 0:  # a market buy
        return OrderState.FILLED if filled > 0 else OrderState.CANCELLED
    return OrderState.FILLED if filled >= size else OrderState.CANCELLED


def order_status(
    raw: Mapping[str, Any], symbol: str, request: OrderRequest | None = None
) -> OrderStatus:
    """Pionex's order in the port's types; what it leaves out is taken from the request that
    placed it, when there is one."""
    size = decimal_or_none(raw.get("size"))
    filled = _dec0(raw.get("filledSize"))
    value = _dec0(raw.get("filledAmount"))
    side = Side(str(raw["side"]).lower()) if raw.get("side") else None
    kind = OrderKind.LIMIT if raw.get("type") == "LIMIT" else OrderKind.MARKET
    amount = request.amount if request else (size or filled)
    return OrderStatus(
        order_id=str(raw["orderId"]),
        client_order_id=str(
            raw.get("clientOrderId") or (request.client_order_id if request else "")
        ),
        symbol=symbol,
        side=side or (request.side if request else Side.BUY),
        kind=request.kind if request else kind,
        state=_state(raw, filled, size),
        amount=amount,
        filled=filled,
        average_price=value / filled if filled > 0 else None,
        price=decimal_or_none(raw.get("price")) or None,
        fee=_dec0(raw.get("fee")),
        fee_currency=str(raw["feeCoin"]) if raw.get("feeCoin") else None,
        updated_at=utc(raw.get("updateTime") or raw.get("createTime")),
    )


def fill(raw: Mapping[str, Any], symbol: str) -> Fill:
    return Fill(
        order_id=str(raw.get("orderId") or ""),
        client_order_id="",  # Pionex's fills do not carry it
        symbol=symbol,
        side=Side(str(raw["side"]).lower()),
        price=_dec0(raw.get("price")),
        amount=_dec0(raw.get("size")),
        fee=_dec0(raw.get("fee")),
        fee_currency=str(raw.get("feeCoin") or ""),
        at=utc(raw.get("timestamp")) or datetime.now(UTC),
        maker=raw.get("role") == "MAKER",
    )
