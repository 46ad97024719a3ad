"""Strategy engine benchmark: 200,000 synthetic ticks across 20 symbols through the engine with
momentum and mean reversion enabled, signals handed to a no-op submit (the intake has its own
benchmark). Target: at least 50,000 ticks/s. Run with `python -m bench.strategy`."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal

from app.domain.market import Tick
from app.domain.signals import Signal
from app.domain.strategy import MeanReversion, Momentum
from app.domain.synthetic import SymbolSpec, SyntheticMarket
from app.services.strategy.engine import StrategyEngine

SYMBOLS = [f"S{i:02d}/USDT" for i in range(20)]
TICKS = 200_000


async def run(ticks: list[Tick], engine: StrategyEngine) -> float:
    started = time.perf_counter()
    for tick in ticks:
        await engine.on_tick(tick)
    return time.perf_counter() - started


def main() -> int:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    market = SyntheticMarket([SymbolSpec(s, Decimal(100)) for s in SYMBOLS], seed=1, start=start)
    ticks = list(market.ticks(TICKS))
    signals = 0

    async def submit(signal: Signal) -> str:
        nonlocal signals
        signals += 1
        return "queued"

    rates = []
    for _ in range(3):
        strategies = [Momentum(), MeanReversion()]
        engine = StrategyEngine(dict.fromkeys(SYMBOLS, strategies), submit)
        rates.append(TICKS / asyncio.run(run(ticks, engine)))
    rates.sort()
    print(
        f"strategy engine: {rates[1]:,.0f} ticks/s across {len(SYMBOLS)} symbols, momentum and "
        f"mean reversion (median of 3; target 50,000); {signals // 3:,} signals per run"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
