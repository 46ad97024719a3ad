"""The columns of a candle file as it comes, named the way `market_data` reads them.

- ccxt's `fetch_ohlcv` rows: timestamp (ms), open, high, low, close, volume; with a header or
  without one (6 columns), in CSV or as the JSON list ccxt returns.
- Binance kline files (data.binance.vision) and `/api/v3/klines` answers: 12 columns, open time
  first (ms; microseconds in spot files from 2025), no header (futures files have one).
- TradingView's "Export chart data": `time` (epoch seconds or ISO 8601), open, high, low, close,
  `Volume` when the chart shows it, then one column per indicator plot.

A header's names are matched without case or surrounding spaces; the first of a name's aliases
present is the one read, and only the first column of a repeated name counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

CCXT_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
BINANCE_KLINE_COLUMNS = (
    *CCXT_COLUMNS,
    "close_time",
    "quote_volume",
    "trades",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
_HEADERLESS = {5: CCXT_COLUMNS[:5], 6: CCXT_COLUMNS, 12: BINANCE_KLINE_COLUMNS}

# Each name `market_data` reads, and the names files give it, in order of preference.
_ALIASES = {
    "timestamp": ("timestamp", "open_time", "open time", "time", "datetime", "date", "unix"),
    "volume": ("volume", "vol"),
}


class ColumnsError(ValueError):
    """The first row is neither a header nor a row of a known headerless layout."""


def columns(first: Sequence[str]) -> tuple[list[str], bool]:
    """The column names of a file whose first row is `first`, and whether that row is a header.

    Raises:
        ColumnsError: the first row holds numbers only (no header) but in a number of columns
            that no known layout has.
    """
    cells = [cell.strip() for cell in first]
    if not is_data(cells):
        return header_names(cells), True
    return list(headerless(len(cells))), False


def is_data(cells: Sequence[str]) -> bool:
    """A row of values rather than names: every cell after the first (a time) is a number."""
    return len(cells) > 1 and all(_number(cell) for cell in cells[1:])


def headerless(count: int) -> tuple[str, ...]:
    """The names of the columns of a row of `count` values without a header.

    Raises:
        ColumnsError: no known layout has that many columns.
    """
    names = _HEADERLESS.get(count)
    if names is None:
        raise ColumnsError(
            f"its rows of {count} values without names are neither ccxt's 6 (timestamp, open, "
            "high, low, close, volume) nor Binance's 12 kline columns"
        )
    return names


def header_names(cells: Sequence[str]) -> list[str]:
    """A header's names, lower-cased, each alias renamed to the name read; repeats renamed
    apart so that the first column of a name is the one read."""
    names = [cell.strip().lower() for cell in cells]
    for name, aliases in _ALIASES.items():
        if name in names:
            continue
        found = next((alias for alias in aliases if alias in names), None)
        if found is not None:
            names[names.index(found)] = name
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            names[index] = f"{name}#{index}"
        seen.add(name)
    return names


def _number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True
