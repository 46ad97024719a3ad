"""The paper venue's arithmetic: steps and minimums an order must meet, walking a book,
and when a stop or take-profit triggers. Pure functions over values."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from app.domain.market import Level, Market
from app.domain.orders import OrderKind, Side
from app.domain.paper.state import (
    InsufficientPaperFunds,
    InvalidPaperOrder,
    PaperBalance,
    PaperOrder,
)

_ZERO = Decimal(0)


def truncate(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` not above `value` (amounts are truncated)."""
    return value // step * step


def round_to(value: Decimal, step: Decimal) -> Decimal:
    """The nearest multiple of `step`, halves up (prices are rounded)."""
    return (value / step).to_integral_value(ROUND_HALF_UP) * step


def walk(
    levels: Sequence[Level], amount: Decimal, limit: Decimal | None, is_buy: bool
) -> tuple[list[tuple[Decimal, Decimal]], Decimal, Decimal]:
    """Take `amount` best first, not past `limit`: the (price, size) matches, filled, cost."""
    matches: list[tuple[Decimal, Decimal]] = []
    filled = cost = _ZERO
    remaining = amount
    for level in levels:
        price = level.price
        if limit is not None and (price > limit if is_buy else price < limit):
            break
        size = level.amount
        if size >= remaining:
            matches.append((price, remaining))
            return matches, filled + remaining, cost + remaining * price
        matches.append((price, size))
        filled += size
        cost += size * price
        remaining -= size
    return matches, filled, cost


def triggered(order: PaperOrder, price: Decimal) -> bool:
    """Whether `price` sets off a stop (against the side) or a take-profit (with it)."""
    trigger = order.trigger_price
    assert trigger is not None
    rising = (order.kind is OrderKind.STOP_MARKET) is (order.side is Side.BUY)
    return price >= trigger if rising else price <= trigger


def positive(value: Decimal | None, what: str) -> Decimal:
    if value is None or not value.is_finite() or value <= 0:
        raise InvalidPaperOrder(f"the {what} must be a positive number, not {value}")
    return value


def order_amount(value: Decimal, market: Market) -> Decimal:
    """The amount truncated to the market's step; refused below its minimum."""
    amount = truncate(positive(value, "amount"), market.amount_step)
    if not amount:
        raise InvalidPaperOrder(
            f"the amount {value} is below the {market.symbol} step of {market.amount_step}"
        )
    if amount < market.min_amount:
        raise InvalidPaperOrder(
            f"the amount {amount} is below the {market.symbol} minimum of {market.min_amount}"
        )
    return amount


def order_price(value: Decimal | None, what: str, market: Market, amount: Decimal) -> Decimal:
    """A limit or trigger price rounded to the market's step, the order's cost checked at it."""
    price = round_to(positive(value, what), market.price_step)
    if not price:
        raise InvalidPaperOrder(f"the {what} rounds to 0 at a step of {market.price_step}")
    check_cost(market, amount, price)
    return price


def check_cost(market: Market, amount: Decimal, price: Decimal) -> None:
    if market.min_cost and amount * price < market.min_cost:
        raise InvalidPaperOrder(
            f"the order's cost {amount * price} is below the {market.symbol} minimum "
            f"of {market.min_cost}"
        )


def short(wallet: PaperBalance, needed: Decimal) -> InsufficientPaperFunds:
    return InsufficientPaperFunds(
        f"insufficient {wallet.asset}: {needed} needed, {wallet.free} free"
    )
