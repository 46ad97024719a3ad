"""A seeded synthetic market: geometric random walks per symbol and order books around them.

Pure: no clock, environment or I/O; the start time is passed in and every later time is derived
from it. The same seed and specs give the same ticks and books, in any process.

Floats inside, Decimals outside: the walk runs on floats for speed, and each price is rounded to
an integer number of price steps before anything is emitted. Every emitted price or amount is
that integer times its step (a Decimal, exact, quantized to the step), built through a cache of
integer -> Decimal so a tick costs no Decimal arithmetic once its price has been seen.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import msgspec

from app.domain.market import Candle, Level, OrderBook, Tick

# integer -> Decimal entries kept per step before the cache is reset: a backtest's millions of
# ticks revisit prices; a live feed's few a second do not need many
CACHE_LIMIT = 200_000


class SymbolSpec(msgspec.Struct, frozen=True):
    """How one symbol's price walks.

    Each step multiplies the price by exp(r) with r ~ Normal(drift, volatility): `drift` is the
    mean and `volatility` the standard deviation of the log return per tick.
    """

    symbol: str
    start_price: Decimal
    drift: float = 0.0
    volatility: float = 0.001
    interval: timedelta = timedelta(seconds=1)
    price_step: Decimal = Decimal("0.01")
    amount_step: Decimal = Decimal("0.00000001")


class BookShape(msgspec.Struct, frozen=True):
    """How books are laid out around the current price.

    The best bid and ask are `spread_bps` apart (at least one price step), levels are
    `level_step` price steps apart, and level i holds about `level_amount * (1 + amount_growth*i)`
    with a seeded jitter of +-`amount_jitter` (a fraction), truncated to the amount step.
    """

    depth: int = 20
    spread_bps: float = 5.0
    level_step: int = 1
    level_amount: Decimal = Decimal(1)
    amount_growth: float = 0.1
    amount_jitter: float = 0.5


class _Steps:
    """Integer multiples of one step as Decimals, cached."""

    __slots__ = ("cache", "limit", "step")

    def __init__(self, step: Decimal, limit: int = CACHE_LIMIT) -> None:
        if not step.is_finite() or step <= 0:
            raise ValueError(f"A step must be a positive number, not {step}.")
        self.step = step
        self.limit = limit
        self.cache: dict[int, Decimal] = {}

    def get(self, units: int) -> Decimal:
        value = self.cache.get(units)
        if value is None:
            if len(self.cache) >= self.limit:
                self.cache.clear()
            value = self.cache[units] = units * self.step
        return value


def _units(value: Decimal, step: Decimal) -> int:
    """`value` as a whole number of `step`s, rounded half-even, at least one."""
    return max(1, int((value / step).to_integral_value()))


def _book(
    symbol: str,
    price_units: int,
    shape: BookShape,
    prices: _Steps,
    amounts: _Steps,
    *,
    depth: int | None,
    at: datetime | None,
    jitter: random.Random | None = None,
) -> OrderBook:
    """A book around a price of `price_units` price steps; bids below asks, best first."""
    depth = shape.depth if depth is None else depth
    if depth < 0 or shape.level_step < 1:
        raise ValueError("A book's depth must be >= 0 and its level step >= 1.")
    spread = max(1, round(price_units * shape.spread_bps / 10_000))
    best_bid = max(1, price_units - spread // 2)
    best_ask = best_bid + spread
    base = float(shape.level_amount / amounts.step)

    def amount(level: int) -> Decimal:
        size = base * (1 + shape.amount_growth * level)
        if jitter is not None:
            size *= 1 + shape.amount_jitter * (2 * jitter.random() - 1)
        return amounts.get(max(1, int(size)))

    asks = tuple(
        Level(prices.get(best_ask + i * shape.level_step), amount(i)) for i in range(depth)
    )
    bids = tuple(
        Level(prices.get(best_bid - i * shape.level_step), amount(i))
        for i in range(depth)
        if best_bid - i * shape.level_step >= 1
    )
    return OrderBook(symbol=symbol, bids=bids, asks=asks, at=at)


_BATCH = 512  # price multipliers drawn per refill (even: Box-Muller gives pairs)


class _Walk:
    """One symbol's walk: its price in steps, and a buffer of the next price multipliers."""

    __slots__ = (
        "amounts",
        "book_seed",
        "books",
        "cached",
        "count",
        "factors",
        "interval",
        "last",
        "miss",
        "position",
        "price",
        "prices",
        "rng",
        "spec",
        "step",
        "units",
    )

    def __init__(self, spec: SymbolSpec, seed: int, cache_limit: int) -> None:
        if spec.volatility < 0 or not math.isfinite(spec.volatility + spec.drift):
            raise ValueError(
                f"{spec.symbol}: drift and volatility must be finite, volatility >= 0."
            )
        if spec.interval <= timedelta(0):
            raise ValueError(f"{spec.symbol}: the tick interval must be positive.")
        self.spec = spec
        self.prices = _Steps(spec.price_step, cache_limit)
        self.amounts = _Steps(spec.amount_step, cache_limit)
        self.step = float(spec.price_step)
        self.units = _units(spec.start_price, spec.price_step)
        self.price = self.units * self.step  # the unrounded walk, in quote currency
        self.interval = spec.interval
        self.rng = random.Random(f"{seed}:{spec.symbol}")  # noqa: S311 - str seeds are stable
        self.book_seed = f"{seed}:{spec.symbol}:book"
        self.books: dict[int | None, tuple[int, OrderBook]] = {}  # depth -> (count, its book)
        self.count = 0  # ticks emitted
        self.last: Tick | None = None
        self.factors: list[float] = []
        self.position = _BATCH  # of the next factor in `factors`; at _BATCH, draw more
        self.cached = self.prices.cache.get  # bound once for the hot loop
        self.miss = self.prices.get

    def next_factor(self) -> float:
        if self.position == _BATCH:
            self.factors, self.position = self._draw(), 0
        self.position += 1
        return self.factors[self.position - 1]

    def _draw(self) -> list[float]:
        """exp(Normal(drift, volatility)) x _BATCH, by Box-Muller (random.gauss is pure Python
        and three times slower)."""
        uniform, drift, vol = self.rng.random, self.spec.drift, self.spec.volatility
        out: list[float] = []
        for _ in range(_BATCH // 2):
            radius = vol * math.sqrt(-2.0 * math.log(1.0 - uniform()))
            angle = math.tau * uniform()
            out.append(math.exp(drift + radius * math.cos(angle)))
            out.append(math.exp(drift + radius * math.sin(angle)))
        return out


class SyntheticMarket:
    """Ticks for several symbols in time order, and the book of each at its latest tick.

    Args:
        specs: one per symbol; each walks with its own random stream, so adding a symbol does not
            change the others' paths.
        seed: the same seed gives the same sequence.
        start: the time of each symbol's first tick.
        book: the layout of `order_book`.
        cache_limit: Decimals of prices and amounts kept per symbol (each kind) for reuse; a
            long-running live feed keeps it small, since its memory is the process's.
    """

    def __init__(
        self,
        specs: Sequence[SymbolSpec],
        *,
        seed: int,
        start: datetime,
        book: BookShape | None = None,
        cache_limit: int = CACHE_LIMIT,
    ) -> None:
        if not specs:
            raise ValueError("A synthetic market needs at least one symbol.")
        names = [spec.symbol for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"Symbols must be unique, got {names}.")
        self.start = start
        self.shape = book or BookShape()
        self.cache_limit = cache_limit
        self._walks = {spec.symbol: _Walk(spec, seed, cache_limit) for spec in specs}
        self._order = list(self._walks.values())

    @property
    def symbols(self) -> list[str]:
        return list(self._walks)

    @property
    def cached(self) -> int:
        """Decimals held in the caches of every symbol."""
        return sum(len(w.prices.cache) + len(w.amounts.cache) for w in self._order)

    def last(self, symbol: str) -> Tick | None:
        """The latest tick of `symbol`, None before its first."""
        return self._walks[symbol].last

    def ticks(self, count: int | None = None) -> Iterator[Tick]:
        """The next `count` ticks (forever if None) across symbols, ordered by time then spec."""
        intervals = {walk.interval for walk in self._order}
        if len(intervals) == 1:
            return self._round_robin(count)
        return self._merged(count)

    def _round_robin(self, count: int | None) -> Iterator[Tick]:
        # The hot loop: everything inlined into locals (a method call per tick costs ~15%).
        walks = self._order
        interval = walks[0].interval
        rate = self.shape.spread_bps / 10_000
        step_index = min(walk.count for walk in walks)
        # Symbols left behind by a previous partial round catch up first.
        pending = [walk for walk in walks if walk.count == step_index]
        left = -1 if count is None else count
        while left:
            at = self.start + interval * step_index
            for walk in pending:
                if not left:
                    return
                left -= 1
                if walk.count:
                    position = walk.position
                    if position == _BATCH:
                        walk.factors, position = walk._draw(), 0
                    walk.price *= walk.factors[position]
                    walk.position = position + 1
                    units = round(walk.price / walk.step)
                    walk.units = units = units if units > 0 else 1
                else:
                    units = walk.units
                walk.count += 1
                spread = round(units * rate) or 1
                bid = units - spread // 2
                if bid < 1:  # noqa: PLR1730 - cheaper than max() in the hot loop
                    bid = 1
                cached, miss = walk.cached, walk.miss
                walk.last = tick = Tick(
                    walk.spec.symbol,
                    at,
                    cached(units) or miss(units),
                    cached(bid) or miss(bid),
                    cached(bid + spread) or miss(bid + spread),
                )
                yield tick
            pending = walks
            step_index += 1

    def _merged(self, count: int | None) -> Iterator[Tick]:
        heap = [(walk.interval * walk.count, i) for i, walk in enumerate(self._order)]
        heapq.heapify(heap)
        left = -1 if count is None else count
        while left:
            left -= 1
            offset, i = heap[0]
            walk = self._order[i]
            yield self._advance(walk, self.start + offset)
            heapq.heapreplace(heap, (offset + walk.interval, i))

    def _advance(self, walk: _Walk, at: datetime) -> Tick:
        if walk.count:
            walk.price *= walk.next_factor()
            units = round(walk.price / walk.step)
            walk.units = units if units > 0 else 1
        walk.count += 1
        units = walk.units
        spread = round(units * self.shape.spread_bps / 10_000) or 1
        bid = max(1, units - spread // 2)
        prices = walk.prices
        tick = Tick(
            walk.spec.symbol, at, prices.get(units), prices.get(bid), prices.get(bid + spread)
        )
        walk.last = tick
        return tick

    def order_book(self, symbol: str, depth: int | None = None) -> OrderBook | None:
        """The book of `symbol` at its latest tick (None before the first), `depth` levels a side.

        Amount jitter is seeded by the symbol and the tick count, so the same state gives the same
        book however often it is asked for.
        """
        walk = self._walks[symbol]
        if walk.last is None:
            return None
        kept = walk.books.get(depth)
        if kept is not None and kept[0] == walk.count:  # asked again before the next tick
            return kept[1]
        book = _book(
            symbol,
            walk.units,
            self.shape,
            walk.prices,
            walk.amounts,
            depth=depth,
            at=walk.last.at,
            jitter=random.Random(f"{walk.book_seed}:{walk.count}"),  # noqa: S311
        )
        walk.books[depth] = (walk.count, book)
        return book


def book_around(
    symbol: str,
    price: Decimal,
    *,
    price_step: Decimal = Decimal("0.01"),
    amount_step: Decimal = Decimal("0.00000001"),
    shape: BookShape | None = None,
    depth: int | None = None,
    at: datetime | None = None,
) -> OrderBook:
    """A plain book (no jitter) around `price`, rounded to `price_step`: for replayed prices."""
    return _book(
        symbol,
        _units(price, price_step),
        shape or BookShape(),
        _Steps(price_step),
        _Steps(amount_step),
        depth=depth,
        at=at,
    )


def synthetic_candles(
    spec: SymbolSpec, *, seed: int, start: datetime, count: int, ticks_per_candle: int = 60
) -> list[Candle]:
    """`count` candles of the seeded walk, each made of `ticks_per_candle` ticks (OHLC of their
    prices, volume their sum): sample data that needs no download."""
    market = SyntheticMarket([spec], seed=seed, start=start)
    ticks = market.ticks(count * ticks_per_candle)
    candles = []
    for _ in range(count):
        prices = [next(ticks) for _ in range(ticks_per_candle)]
        first = prices[0]
        candles.append(
            Candle(
                symbol=spec.symbol,
                at=first.at,
                open=first.price,
                high=max(t.price for t in prices),
                low=min(t.price for t in prices),
                close=prices[-1].price,
                volume=sum((t.volume for t in prices), Decimal(0)),
            )
        )
    return candles
