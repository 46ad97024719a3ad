"""What a new order book or trade price offers the paper venue's resting orders: a limit fills
as a maker when the price crosses it, a stop or take-profit fires when the price reaches its
trigger."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from app.domain.market import Level, OrderBook
from app.domain.orders import Side
from app.domain.paper.rules import triggered
from app.domain.paper.state import PaperOrder

_ZERO = Decimal(0)


class Prices(Protocol):
    def maker_size(self, order: PaperOrder) -> Decimal | None:
        """How much of resting limit `order` fills at its price; None: the price is not there."""
        ...

    def stop_levels(self, order: PaperOrder) -> Sequence[Level] | None:
        """What triggered `order` fills against; None: its trigger is not reached."""
        ...


class BookPrices:
    """A new book: a limit fills up to the depth at or better than its price; a trigger order
    fires when the best price on its side reaches the trigger, and walks that side."""

    __slots__ = ("asks", "bids")

    def __init__(self, book: OrderBook) -> None:
        self.bids, self.asks = book.bids, book.asks

    def maker_size(self, order: PaperOrder) -> Decimal | None:
        limit = order.price
        assert limit is not None
        is_buy = order.side is Side.BUY
        levels = self.asks if is_buy else self.bids
        depth = sum(
            (lv.amount for lv in levels if (lv.price <= limit if is_buy else lv.price >= limit)),
            _ZERO,
        )
        return min(depth, order.amount - order.filled) if depth else None

    def stop_levels(self, order: PaperOrder) -> Sequence[Level] | None:
        levels = self.asks if order.side is Side.BUY else self.bids
        if not levels or not triggered(order, levels[0].price):  # the best price on its side
            return None
        return levels


class TickPrices:
    """A trade price: a limit it crosses fills in full; a trigger order it reaches fires against
    the last book, or at the trade price when there is none."""

    __slots__ = ("book", "price")

    def __init__(self, price: Decimal, book: OrderBook | None) -> None:
        self.price, self.book = price, book

    def maker_size(self, order: PaperOrder) -> Decimal | None:
        limit, price = order.price, self.price
        assert limit is not None
        if price > limit if order.side is Side.BUY else price < limit:
            return None
        return order.amount - order.filled

    def stop_levels(self, order: PaperOrder) -> Sequence[Level] | None:
        if not triggered(order, self.price):
            return None
        if self.book is None:
            return (Level(self.price, order.amount - order.filled),)
        return self.book.asks if order.side is Side.BUY else self.book.bids
