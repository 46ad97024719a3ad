"""An order as Pionex takes it (restful/orders/new-order): LIMIT with a size and a price, MARKET
sell with a size, MARKET buy with the quote `amount` it spends; precision applied (a size
truncated to the market's step, a price rounded to its tick, an amount truncated to
`amountPrecision`) and minimums checked before anything is sent."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from app.adapters.pionex.parsing import PionexMarket, step
from app.domain.market import Market
from app.domain.orders import OrderKind, OrderRequest, Side
from app.ports.errors import InvalidOrder


def _text(value: Decimal) -> str:
    return f"{value:f}"


def priced_by_ask(request: OrderRequest) -> bool:
    """A market buy: sized by what it spends, the coins at the best ask."""
    return request.kind is OrderKind.MARKET and request.side is Side.BUY


def order_body(
    request: OrderRequest, spec: PionexMarket, best_ask: Decimal | None = None
) -> dict[str, object]:
    """The JSON body of `POST /api/v1/trade/order` for `request`; `best_ask` prices a market
    buy.

    Raises:
        InvalidOrder: an order Pionex has not (stop, take-profit), or one below its minimums.
    """
    market, symbol = spec.market, request.symbol
    if request.kind not in (OrderKind.MARKET, OrderKind.LIMIT):
        raise InvalidOrder(
            f"pionex has no {request.kind} orders (its API places LIMIT and MARKET orders"
            " only): signalgate watches stop-losses and take-profits there instead."
        )
    size = request.amount.quantize(market.amount_step, ROUND_DOWN)
    if size <= 0 or size < market.min_amount:
        raise InvalidOrder(
            f"{symbol} amount {request.amount} is below pionex's minimum of {market.min_amount}."
        )
    body: dict[str, object] = {
        "symbol": spec.id,
        "side": request.side.value.upper(),
        "type": request.kind.value.upper(),
        "clientOrderId": request.client_order_id,
    }
    if request.kind is OrderKind.LIMIT:
        if request.price is None:
            raise InvalidOrder("a limit order needs a price.")
        price = request.price.quantize(market.price_step, ROUND_HALF_UP)
        if price <= 0:
            raise InvalidOrder(f"{symbol} price {request.price} is too small for pionex.")
        _check_value(symbol, market, size * price)
        return {**body, "size": _text(size), "price": _text(price)}
    if not priced_by_ask(request):
        return {**body, "size": _text(size)}
    if best_ask is None:
        raise InvalidOrder(f"{symbol} has no ask on pionex to price a market buy.")
    cost = (size * best_ask).quantize(step(spec.amount_digits), ROUND_DOWN)
    _check_value(symbol, market, cost)
    return {**body, "amount": _text(cost)}


def _check_value(symbol: str, market: Market, value: Decimal) -> None:
    if value < market.min_cost:
        raise InvalidOrder(
            f"{symbol} order value {value} is below pionex's minimum of {market.min_cost}"
            f" {market.quote}."
        )
