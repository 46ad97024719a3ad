"""Wiring of `signalgate backtest | export-signals`: the in-memory store and the paper exchange
the backtest runs on, the candle files, the chart, and the stored signals."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from app.adapters.market_data import ReplayError, read_csv, read_parquet

__all__ = ["ReplayError"]
from app.adapters.memory_execution import MemoryExecutionStore
from app.adapters.paper.exchange import PaperExchange
from app.adapters.png_chart import line_chart
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.domain.market import Candle, Tick
from app.ports.signals import SignalReader
from app.services.backtest import Backtest, BacktestConfig


def build_backtest(config: BacktestConfig) -> Backtest:
    return Backtest(config, store=MemoryExecutionStore(), open_venue=PaperExchange)


def read_candles(path: Path) -> Sequence[Candle | Tick]:
    """The rows of a CSV (or, with pyarrow, Parquet) file.

    Raises:
        ReplayError: the file cannot be read as market data; the message says why.
        ImportError: a Parquet file without pyarrow installed.
    """
    return read_parquet(path) if path.suffix == ".parquet" else read_csv(path)


def equity_chart(equity: Sequence[float], baseline: float) -> bytes:
    """The equity curve as a PNG."""
    return line_chart(equity, baseline=baseline)


def signal_reader(database_url: str) -> SignalReader:
    return SqlSignalStore(make_engine(database_url))
