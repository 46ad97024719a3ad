"""Order streams vs polling only: the bracket monitor over 50 open brackets on the local Binance
USD-M fake (tests/venues/binance_usdm.py) and its private stream, through unmodified ccxt.

Prints, for each mode: the venue requests a minute while the 50 brackets stay open (every
request the fake received over the window), and the latency from a stop-loss filling on the
venue to its bracket being closed in the book (p50, p90 over the samples; one bracket's stop at
a time). ccxt's own throttle is set to 1 ms so that the figure is what the monitor asks for, not
what ccxt's pacing lets through (polling 50 brackets every 0.5 s asks for more than ccxt's
default pace for the venue, 20 a second).

    .venv/bin/python -m bench.streams [--brackets 50] [--seconds 30] [--samples 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.ccxt.streams import CcxtOrderStream
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.bootstrap.local import migrate
from app.config.settings import Settings
from app.domain.brackets.bracket import BracketState
from app.domain.execution_policy import EntryPolicy, ExecutionPolicy
from app.domain.risk_values import RiskLimits
from app.domain.signals import (
    Action,
    Signal,
    SignalRecord,
    SignalStatus,
    StopKind,
    StopLoss,
    TakeProfit,
)
from app.domain.sizing import SizingPolicy
from app.ports.execution import NoLocks
from app.services.brackets.monitor import BracketMonitor
from app.services.brackets.streams import StreamTrust, StreamWatch
from app.services.execution.executor import Executor
from tests.venues import binance_usdm
from tests.venues.binance import API_KEY, API_SECRET
from tests.venues.http import serve
from tests.venues.streams import StreamServer

D = Decimal
VENUE, SYMBOL, MARKET = "binanceusdm", "BTC/USDT:USDT", "BTCUSDT"
LIMITS = RiskLimits(max_order_notional=D(10**9), max_total_exposure=D(10**12),
                    max_open_positions=10_000, max_daily_loss=D(10**12),
                    stop_loss_cooldown_seconds=0, max_orders_per_minute=10**6,
                    price_band_percent=D(50))  # fmt: skip


@dataclass
class Figures:
    mode: str
    requests_per_minute: float
    latencies_ms: list[float]

    def line(self) -> str:
        cut = statistics.quantiles(self.latencies_ms, n=10) if len(self.latencies_ms) > 1 else []
        p50 = statistics.median(self.latencies_ms)
        p90 = cut[-1] if cut else p50
        return (f"{self.mode:<12} {self.requests_per_minute:>9.0f} requests/min   stop-loss"
                f" fill -> closed p50 {p50:7.1f} ms  p90 {p90:7.1f} ms"
                f"  ({len(self.latencies_ms)} samples)")  # fmt: skip


def _tick(price: Decimal) -> Decimal:
    return (price / D("0.1")).quantize(D(1), ROUND_DOWN) * D("0.1")


async def run(mode: str, brackets: int, seconds: float, samples: int) -> Figures:
    fake = binance_usdm.usdm(wallet="100000000")
    with (
        serve(fake) as served,
        StreamServer(fake) as server,
        tempfile.TemporaryDirectory() as tmp,
    ):
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate(Settings(database_url=url))
        engine = make_engine(url)
        store, signals = SqlExecutionStore(engine), SqlSignalStore(engine)
        exchange = CcxtExchange(VENUE, mode="testnet", api_key=API_KEY, secret=API_SECRET,
                                base_url=served.url, rate_limit_ms=1)  # fmt: skip
        executor = Executor(store=store, venues={VENUE: exchange}, modes={VENUE: "testnet"},
                            clock=lambda: datetime.now(UTC), locks=NoLocks(), limits=LIMITS,
                            sizing=SizingPolicy(),
                            policy=ExecutionPolicy(entry_policy=EntryPolicy.ADD))  # fmt: skip
        ask = fake.books[MARKET][1]
        stops = [_tick(ask * (D("0.95") - D("0.001") * i)) for i in range(brackets)]
        ids = []
        for i, stop in enumerate(stops):
            signal_id = f"01KBENCH{mode[:6].upper():0<6}{i:012d}"
            signal = Signal(symbol=SYMBOL, action=Action.BUY, source="tradingview:native",
                            quantity=D("0.01"), take_profits=(TakeProfit(price=_tick(ask * 2)),),
                            stop_loss=StopLoss(StopKind.PRICE, stop))  # fmt: skip
            signals.add_many([SignalRecord(signal_id, datetime.now(UTC), SignalStatus.QUEUED,
                                           signal, "native", signal_id)])  # fmt: skip
            await executor.execute(signal_id)
            ids.append(signal_id)
        missing = [(i, store.signal(i)) for i in ids if store.bracket(i) is None]
        assert not missing, [c.detail for c in (signals.get(missing[0][0]).history or [])]
        async with monitoring(store, executor, exchange, served.url, server.url,
                              streams=mode == "streams") as monitor:  # fmt: skip
            await asyncio.sleep(2)  # settled: the first rounds, the stream trusted
            before, started = len(fake.requests), time.perf_counter()
            await asyncio.sleep(seconds)
            per_minute = (len(fake.requests) - before) / (time.perf_counter() - started) * 60
            latencies, pause = [], random.Random(1)
            for signal_id, stop in list(zip(ids, stops, strict=True))[:samples]:
                # at a random moment of the polling round: the brackets are read back in id
                # order, so a fill right after the last close would meet the round at its place
                await asyncio.sleep(pause.uniform(0, 1.0))
                at = time.perf_counter()
                fake.set_price(MARKET, stop - D("0.2"), stop, stop - D("0.1"))
                await closing(store, signal_id)
                latencies.append((time.perf_counter() - at) * 1000)
            del monitor
        await exchange.close()
        engine.dispose()
    return Figures(mode, per_minute, latencies)


async def closing(store: SqlExecutionStore, signal_id: str, seconds: float = 30.0) -> None:
    """Until the bracket is closed in the book, read every 2 ms."""
    for _ in range(int(seconds / 0.002)):
        found = store.bracket(signal_id)
        if found is not None and found.state is BracketState.CLOSED:
            return
        await asyncio.sleep(0.002)
    raise RuntimeError(f"bracket {signal_id} was not closed within {seconds:g} s")


@contextlib.asynccontextmanager
async def monitoring(store: SqlExecutionStore, executor: Executor, exchange: CcxtExchange,
                     rest_url: str, stream_url: str, *, streams: bool,
                     ) -> AsyncIterator[BracketMonitor]:  # fmt: skip
    trust = StreamTrust()
    monitor = BracketMonitor(store=store, venues={VENUE: exchange}, driver=executor.driver,
                             locks=NoLocks(), interval_seconds=0.5, trust=trust)  # fmt: skip
    stop = asyncio.Event()
    tasks = [asyncio.create_task(monitor.run(stop))]
    if streams:
        stream = CcxtOrderStream(VENUE, mode="testnet", api_key=API_KEY, secret=API_SECRET,
                                 base_url=rest_url, stream_url=stream_url)  # fmt: skip
        watch = StreamWatch(VENUE, stream, trust, monitor.wake, monitor.reconcile)
        tasks.append(asyncio.create_task(watch.run(stop)))
    try:
        yield monitor
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brackets", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    print(f"bracket monitor, {args.brackets} open brackets on the Binance USD-M fake, polling"
          f" every 0.5 s; {args.seconds:g} s counted")  # fmt: skip
    polled = await run("polling", args.brackets, args.seconds, args.samples)
    print(polled.line())
    streamed = await run("streams", args.brackets, args.seconds, args.samples)
    print(streamed.line())
    ratio = streamed.requests_per_minute / polled.requests_per_minute
    print(f"requests with streams / polling only: {ratio:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
