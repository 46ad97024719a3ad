"""Markets, prices and order books as the venues' adapters report them. Pure values."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec


class MarketKind(enum.StrEnum):
    SPOT = "spot"
    SWAP = "swap"  # perpetual


class Market(msgspec.Struct, frozen=True):
    """One tradable symbol on one venue, with the limits an order must respect."""

    symbol: str  # unified, e.g. BTC/USDT or BTC/USDT:USDT
    base: str
    quote: str
    kind: MarketKind = MarketKind.SPOT
    settle: str | None = None  # the settlement currency of a swap
    active: bool = True
    amount_step: Decimal = Decimal("0.00000001")  # amounts are multiples of it (truncated)
    price_step: Decimal = Decimal("0.01")  # prices are multiples of it (rounded)
    min_amount: Decimal = Decimal(0)
    min_cost: Decimal = Decimal(0)  # amount x price
    taker_fee: Decimal = Decimal("0.001")
    maker_fee: Decimal = Decimal("0.001")
    # coins per contract on a swap whose orders count contracts (OKX BTC-USDT-SWAP: 0.01 BTC);
    # every amount above (and in the domain) is in coins: adapters convert at their boundary
    contract_size: Decimal = Decimal(1)


class Level(msgspec.Struct, frozen=True, array_like=True):
    price: Decimal
    amount: Decimal


class OrderBook(msgspec.Struct, frozen=True):
    """Bids best (highest) first, asks best (lowest) first."""

    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    at: datetime | None = None

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return bid or ask
        return (bid + ask) / 2


class Candle(msgspec.Struct, frozen=True):
    """One recorded bar; `at` is the time in the file (usually its open)."""

    symbol: str
    at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class Tick(msgspec.Struct, frozen=True):
    """A price update from a feed."""

    symbol: str
    at: datetime
    price: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    volume: Decimal = Decimal(0)

    def as_candle(self) -> Candle:
        """The tick as a bar of one price (a backtest replays recorded ticks so)."""
        return Candle(self.symbol, self.at, self.price, self.price, self.price, self.price,
                      self.volume)  # fmt: skip


def shifted(book: OrderBook, bps: Decimal) -> OrderBook:
    """The same book with every price moved by `bps` basis points, kept to each price's
    decimal places (so paper venues fed by one feed quote different prices)."""
    if not bps:
        return book
    factor = 1 + bps / 10_000

    def move(levels: tuple[Level, ...]) -> tuple[Level, ...]:
        return tuple(
            Level((level.price * factor).quantize(level.price, ROUND_HALF_EVEN), level.amount)
            for level in levels
        )

    return OrderBook(book.symbol, move(book.bids), move(book.asks), book.at)
