"""Backtest benchmark: 100,000 synthetic one-minute candles through `Backtest` (strategy, screening,
risk gate, sizing, executor, paper venue and bracket monitor in process), for momentum and mean
reversion. Target: at least 100,000 candles/s on one core. Run with `python -m bench.backtest`."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal

from app.bootstrap.backtest import build_backtest
from app.bootstrap.venues import paper_market
from app.domain.strategy import build_strategy
from app.domain.synthetic import SymbolSpec, synthetic_candles
from app.services.backtest import BacktestConfig

CANDLES = 100_000


def main() -> int:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    spec = SymbolSpec("BTC/USDT", Decimal(65_000))
    candles = synthetic_candles(spec, seed=1, start=start, count=CANDLES, ticks_per_candle=10)
    for name in ("momentum", "mean_reversion"):
        rates = []
        for _ in range(3):
            config = BacktestConfig(
                market=paper_market("BTC/USDT", Decimal("0.001")), strategy=build_strategy(name)
            )
            started = time.perf_counter()
            result = asyncio.run(build_backtest(config).run(candles))
            rates.append(CANDLES / (time.perf_counter() - started))
        print(
            f"backtest {name}: {sorted(rates)[1]:,.0f} candles/s, median of 3 (target 100,000); "
            f"{len(result.trades)} trades, signals {result.signals}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
