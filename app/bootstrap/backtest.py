"""Wiring of `signalgate backtest | export-signals`: the in-memory store and the paper exchange
the backtest runs on, the candle files, the chart, and the stored signals."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.adapters.market_data import MissingSymbol, ReplayError, read_csv, read_json, read_parquet

__all__ = ["MissingSymbol", "ReplayError"]
from app.adapters.memory_execution import MemoryExecutionStore
from app.adapters.paper.exchange import PaperExchange
from app.adapters.png_chart import line_chart
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.domain.market import Candle, Tick
from app.ports.signals import SignalReader
from app.services.backtest import Backtest, BacktestConfig


def build_backtest(config: BacktestConfig) -> Backtest:
    return Backtest(config, store=MemoryExecutionStore(), open_venue=PaperExchange)


def read_candles(path: Path, symbol: str | None = None) -> Sequence[Candle | Tick]:
    """The rows of a CSV, JSON (ccxt's fetch_ohlcv answer) or, with pyarrow, Parquet file;
    `symbol` is the symbol of rows in a file without a symbol column.

    Raises:
        MissingSymbol: the file has no symbol column and `symbol` is None.
        ReplayError: the file cannot be read as market data; the message says why.
        ImportError: a Parquet file without pyarrow installed.
    """
    match path.suffix.lower():
        case ".parquet":
            return read_parquet(path, symbol=symbol)
        case ".json":
            return read_json(path, symbol=symbol)
        case _:
            return read_csv(path, symbol=symbol)


def equity_chart(equity: Sequence[float], baseline: float) -> bytes:
    """The equity curve as a PNG."""
    return line_chart(equity, baseline=baseline)


def signal_reader(database_url: str) -> SignalReader:
    return SqlSignalStore(make_engine(database_url))
