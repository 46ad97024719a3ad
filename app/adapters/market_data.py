"""Market data sources: the synthetic feed and replays of recorded candles or ticks.

Every source gives an async iterator of ticks and the book of a symbol at its latest tick.
"""

from __future__ import annotations

import asyncio
import csv
import importlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from app.adapters.candle_columns import ColumnsError, columns, header_names, headerless
from app.domain.market import Candle, OrderBook, Tick
from app.domain.synthetic import BookShape, SyntheticMarket, book_around

_YIELD_EVERY = 1_000  # unpaced feeds let other tasks run this often
# Epoch numbers this large are in ms, µs or ns: in the next smaller unit each would be > 5000 AD.
_EPOCH_UNITS = ((Decimal(10) ** 17, 10**9), (Decimal(10) ** 14, 10**6), (Decimal(10) ** 11, 10**3))


class ReplayError(ValueError):
    """A recorded file cannot be replayed; the message names the line and column."""


class MissingSymbol(ReplayError):
    """The file has no symbol column and no symbol was given for its rows."""


class SyntheticFeed:
    """Ticks from a `SyntheticMarket`, unpaced (backtests) or paced in real time (live runs).

    Args:
        market: the generator; its state is the feed's state.
        count: how many ticks to give; None for an endless feed.
        speed: None for as fast as possible; else simulated seconds per real second (1.0 is real
            time, 60.0 a minute per second).
        sleep, monotonic: injected for tests.
    """

    def __init__(
        self,
        market: SyntheticMarket,
        *,
        count: int | None = None,
        speed: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError(f"The speed must be positive, not {speed}.")
        self.market = market
        self.count = count
        self.speed = speed
        self._sleep = sleep
        self._monotonic = monotonic

    async def ticks(self) -> AsyncIterator[Tick]:
        stream = self.market.ticks(self.count)
        if self.speed is None:
            for n, tick in enumerate(stream, 1):
                yield tick
                if n % _YIELD_EVERY == 0:
                    await self._sleep(0)
            return
        async for tick in _paced(stream, self.speed, self._sleep, self._monotonic):
            yield tick

    def order_book(self, symbol: str, depth: int = 20) -> OrderBook | None:
        return self.market.order_book(symbol, depth)


class ReplayFeed:
    """Recorded ticks (or candles, as one tick at each close) in file order.

    Books are synthesized around the latest price (`book_around`), since the files hold none.
    """

    def __init__(
        self,
        ticks: Sequence[Tick],
        *,
        price_step: Decimal = Decimal("0.01"),
        shape: BookShape | None = None,
        speed: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rows = ticks
        self.price_step = price_step
        self.shape = shape or BookShape()
        self.speed = speed
        self._sleep = sleep
        self._monotonic = monotonic
        self._last: dict[str, Tick] = {}

    @classmethod
    def from_csv(cls, path: Path, *, symbol: str | None = None, **options: Any) -> ReplayFeed:
        """Read `path` (see `read_csv`); `options` go to the constructor."""
        return cls([_as_tick(row) for row in read_csv(path, symbol=symbol)], **options)

    @classmethod
    def from_parquet(cls, path: Path, *, symbol: str | None = None, **options: Any) -> ReplayFeed:
        """Like `from_csv`, for Parquet; needs pyarrow."""
        return cls([_as_tick(row) for row in read_parquet(path, symbol=symbol)], **options)

    async def ticks(self) -> AsyncIterator[Tick]:
        stream = iter(self.rows)
        if self.speed is not None:
            async for tick in _paced(stream, self.speed, self._sleep, self._monotonic):
                self._last[tick.symbol] = tick
                yield tick
            return
        for n, tick in enumerate(stream, 1):
            self._last[tick.symbol] = tick
            yield tick
            if n % _YIELD_EVERY == 0:
                await self._sleep(0)

    def order_book(self, symbol: str, depth: int = 20) -> OrderBook | None:
        tick = self._last.get(symbol)
        if tick is None:
            return None
        return book_around(
            symbol,
            tick.price,
            price_step=self.price_step,
            shape=self.shape,
            depth=depth,
            at=tick.at,
        )


async def _paced(
    ticks: Iterable[Tick],
    speed: float,
    sleep: Callable[[float], Awaitable[None]],
    monotonic: Callable[[], float],
) -> AsyncIterator[Tick]:
    """Each tick when its time comes, measured from the first against one monotonic origin (so
    sleeps that overrun do not add up)."""
    first: datetime | None = None
    origin = 0.0
    for tick in ticks:
        if first is None:
            first, origin = tick.at, monotonic()
        else:
            due = origin + (tick.at - first).total_seconds() / speed
            wait = due - monotonic()
            if wait > 0:
                await sleep(wait)
        yield tick


def _as_tick(row: Candle | Tick) -> Tick:
    if isinstance(row, Tick):
        return row
    return Tick(symbol=row.symbol, at=row.at, price=row.close, volume=row.volume)


_CANDLE_COLUMNS = ("open", "high", "low", "close")


def read_csv(path: Path, *, symbol: str | None = None) -> list[Candle | Tick]:
    """Candles (open, high, low, close, volume) or ticks (price, optional volume) from a CSV.

    Columns by header name (`candle_columns` lists the aliases and the headerless layouts of
    ccxt and Binance): timestamp (ISO 8601, naive read as UTC, or epoch s, ms, µs or ns), symbol
    (else the `symbol` argument). Numbers are parsed as Decimal.

    Raises:
        ReplayError: a missing column, or a bad value (naming its line and column), or a time
            earlier than the row before.
    """
    with path.open(newline="", encoding="utf-8-sig") as file:  # -sig: a spreadsheet's BOM
        reader = csv.reader(file)
        first = next(reader, None)
        if first is None:
            raise ReplayError(f"{path} is empty; give it a header and rows.")
        try:
            header, named = columns(first)
        except ColumnsError as error:
            raise ReplayError(
                f"{path}: {error}; add a header line such as timestamp,open,high,low,close,volume."
            ) from None
        rows: Iterable[tuple[int, dict[str, str]]]
        rows = ((reader.line_num, dict(zip(header, row, strict=False))) for row in reader)
        if not named:
            rows = _chain((1, dict(zip(header, first, strict=True))), rows)
        return _parse_rows(path, header, rows, symbol)


def read_json(path: Path, *, symbol: str | None = None) -> list[Candle | Tick]:
    """Candles from a JSON list of rows as ccxt's `fetch_ohlcv` (or Binance's klines) answers.

    Raises:
        ReplayError: the file is not such a list, or as `read_csv` (lines count rows from 1).
    """
    try:
        data = json.loads(path.read_bytes(), parse_float=str, parse_int=str)
    except (ValueError, UnicodeDecodeError) as error:
        raise ReplayError(f"{path} is not JSON ({error}).") from None
    if not isinstance(data, list) or not data or not isinstance(data[0], list):
        raise ReplayError(
            f"{path} is not a list of candle rows as ccxt's fetch_ohlcv returns; "
            "save its answer as it comes."
        )
    try:
        header = list(headerless(len(data[0])))
    except ColumnsError as error:
        raise ReplayError(f"{path}: {error}.") from None
    rows = ((n, _json_row(header, row)) for n, row in enumerate(data, 1))
    return _parse_rows(path, header, rows, symbol)


def _json_row(header: list[str], row: object) -> dict[str, str]:
    values = row if isinstance(row, list) else []  # a row that is no list: every value missing
    return dict(zip(header, (_text(value) for value in values), strict=False))


def _chain(
    first: tuple[int, dict[str, str]], rest: Iterable[tuple[int, dict[str, str]]]
) -> Iterable[tuple[int, dict[str, str]]]:
    yield first
    yield from rest


def read_parquet(path: Path, *, symbol: str | None = None) -> list[Candle | Tick]:
    """The same columns as `read_csv` from a Parquet file.

    Raises:
        ReplayError: pyarrow is not installed, or as `read_csv` (lines count rows from 1).
    """
    try:
        parquet = importlib.import_module("pyarrow.parquet")
    except ImportError as error:
        raise ReplayError(f"{path}: reading Parquet needs pyarrow, not installed.") from error
    table = parquet.read_table(path)
    header = header_names([str(name) for name in table.column_names])
    records: list[dict[str, Any]] = table.rename_columns(header).to_pylist()
    rows = ((n, {k: _text(v) for k, v in record.items()}) for n, record in enumerate(records, 1))
    return _parse_rows(path, header, rows, symbol)


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else str(value)


def _parse_rows(
    path: Path,
    header: list[str],
    rows: Iterable[tuple[int, dict[str, str]]],
    symbol: str | None,
) -> list[Candle | Tick]:
    candles = all(name in header for name in _CANDLE_COLUMNS)
    needed = ["timestamp", *(_CANDLE_COLUMNS if candles else ("price",))]
    missing = [name for name in needed if name not in header]
    if missing:
        raise ReplayError(f"{path}: missing column(s) {', '.join(missing)} in the header.")
    if symbol is None and "symbol" not in header:
        raise MissingSymbol(f"{path} has no symbol column; name the symbol of its rows.")
    out: list[Candle | Tick] = []
    previous: datetime | None = None
    for line, row in rows:
        field = _Fields(path, line, row)
        at = field.time("timestamp")
        if previous is not None and at < previous:
            raise ReplayError(
                f"{path}, line {line}: time {at.isoformat()} is before the row above."
            )
        previous = at
        name = (row.get("symbol") or "").strip() or symbol
        if not name:
            raise ReplayError(f"{path}, line {line}, column symbol: the symbol is empty.")
        volume = field.number("volume", default=Decimal(0))
        if candles:
            candle = Candle(
                name,
                at,
                field.number("open", positive=True),
                field.number("high", positive=True),
                field.number("low", positive=True),
                field.number("close", positive=True),
                volume,
            )
            if (
                not candle.low
                <= min(candle.open, candle.close)
                <= max(candle.open, candle.close)
                <= candle.high
            ):
                raise ReplayError(f"{path}, line {line}: low <= open, close <= high does not hold.")
            out.append(candle)
        else:
            out.append(Tick(name, at, field.number("price", positive=True), volume=volume))
    return out


class _Fields:
    """The values of one row, parsed with errors that name the line and column."""

    def __init__(self, path: Path, line: int, row: dict[str, str]) -> None:
        self.path, self.line, self.row = path, line, row

    def _fail(self, column: str, problem: str) -> ReplayError:
        return ReplayError(f"{self.path}, line {self.line}, column {column}: {problem}")

    def number(
        self, column: str, *, positive: bool = False, default: Decimal | None = None
    ) -> Decimal:
        text = (self.row.get(column) or "").strip()
        if not text and default is not None:
            return default
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise self._fail(column, f"{text!r} is not a decimal number.") from None
        if not value.is_finite() or value < 0 or (positive and value == 0):
            kind = "positive" if positive else "non-negative"
            raise self._fail(column, f"{text!r} is not a finite {kind} number.")
        return value

    def time(self, column: str) -> datetime:
        text = (self.row.get(column) or "").strip()
        try:
            epoch = Decimal(text)
        except InvalidOperation:
            epoch = None
        try:
            if epoch is not None and epoch.is_finite():
                per_second = next((n for above, n in _EPOCH_UNITS if abs(epoch) >= above), 1)
                return datetime.fromtimestamp(float(epoch / per_second), UTC)
            at = datetime.fromisoformat(text)
        except (ValueError, OverflowError, OSError):
            pass
        else:
            return at if at.tzinfo else at.replace(tzinfo=UTC)
        raise self._fail(column, f"{text!r} is neither an ISO 8601 time nor an epoch number.")
