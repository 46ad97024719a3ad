"""Order entry on the paper venue: what a new market, limit or trigger order takes from the book
at once, and what it holds while it rests. A refusal raises before the order is kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.domain.market import Level, Market, OrderBook
from app.domain.orders import OrderKind, OrderRequest, OrderState, Side
from app.domain.paper.fills import advance, close, take
from app.domain.paper.ledger import PaperLedger
from app.domain.paper.rules import check_cost, order_price, short, triggered, walk
from app.domain.paper.state import InvalidPaperOrder, PaperOrder


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order request the venue took in: its market, and its amount cut to the market's step."""

    request: OrderRequest
    market: Market
    amount: Decimal
    book: OrderBook | None  # the market's last book
    now: datetime


def enter(ledger: PaperLedger, new: NewOrder) -> PaperOrder:
    """Match `new` against the book and keep it (resting, filled or expired).

    Raises:
        PaperRejection: the venue refuses the order; nothing is kept.
    """
    kind = new.request.kind
    if kind is OrderKind.MARKET:
        return _market_order(ledger, new)
    if kind is OrderKind.LIMIT:
        return _limit_order(ledger, new)
    return _trigger_order(ledger, new)


def _market_order(ledger: PaperLedger, new: NewOrder) -> PaperOrder:
    market, amount, book = new.market, new.amount, new.book
    if book is None:
        raise InvalidPaperOrder(f"there is no order book for {market.symbol} yet")
    is_buy = new.request.side is Side.BUY
    levels = book.asks if is_buy else book.bids
    if levels:
        check_cost(market, amount, levels[0].price)
    matches, _, cost = walk(levels, amount, None, is_buy)
    _ensure_funds(ledger, market, is_buy, amount, cost + cost * market.taker_fee)
    order = _new_order(ledger, new, None, None)
    take(ledger, order, market, matches, new.now)
    return order


def _limit_order(ledger: PaperLedger, new: NewOrder) -> PaperOrder:
    market, amount, book = new.market, new.amount, new.book
    price = order_price(new.request.price, "limit price", market, amount)
    is_buy = new.request.side is Side.BUY
    levels: Sequence[Level] = () if book is None else (book.asks if is_buy else book.bids)
    matches, filled, cost = walk(levels, amount, price, is_buy)
    rest_notional = (amount - filled) * price
    hold = rest_notional + rest_notional * market.maker_fee if is_buy else amount - filled
    _ensure_funds(ledger, market, is_buy, amount, cost + cost * market.taker_fee + hold)
    order = _new_order(ledger, new, price, None)
    if matches:
        ledger.take(order, market, matches, new.now)
    if order.filled == amount:
        close(ledger, order, OrderState.FILLED, new.now)
        return order
    ledger.hold(order, market.quote if is_buy else market.base, hold)
    advance(order, OrderState.PARTIALLY_FILLED if matches else OrderState.ACCEPTED)
    return order


def _trigger_order(ledger: PaperLedger, new: NewOrder) -> PaperOrder:
    market, amount, book = new.market, new.amount, new.book
    trigger = order_price(new.request.trigger_price, "trigger price", market, amount)
    is_buy = new.request.side is Side.BUY
    order = _new_order(ledger, new, None, trigger, keep=False)
    if book is not None:
        reference = book.best_ask if is_buy else book.best_bid
        if reference is not None and triggered(order, reference):
            raise InvalidPaperOrder(
                f"the trigger price {trigger} would trigger immediately at {reference}"
            )
    if is_buy:
        notional = amount * trigger
        hold = notional + notional * market.taker_fee
    else:
        hold = amount
    _ensure_funds(ledger, market, is_buy, amount, hold)
    ledger.keep(order)
    ledger.hold(order, market.quote if is_buy else market.base, hold)
    advance(order, OrderState.ACCEPTED)
    return order


def _ensure_funds(
    ledger: PaperLedger, market: Market, is_buy: bool, amount: Decimal, quote_needed: Decimal
) -> None:
    """A buy needs `quote_needed` of the quote currency free; a sell `amount` of the base."""
    wallet = ledger.peek(market.quote if is_buy else market.base)
    needed = quote_needed if is_buy else amount
    if wallet.free < needed:
        raise short(wallet, needed)


def _new_order(
    ledger: PaperLedger,
    new: NewOrder,
    price: Decimal | None,
    trigger: Decimal | None,
    *,
    keep: bool = True,
) -> PaperOrder:
    request, now = new.request, new.now
    order = PaperOrder(
        str(ledger.next_order_number),
        request.client_order_id,
        request.symbol,
        request.side,
        request.kind,
        new.amount,
        OrderState.SUBMITTED,
        now,
        now,
        price,
        trigger,
    )
    if keep:
        ledger.keep(order)
    return order
