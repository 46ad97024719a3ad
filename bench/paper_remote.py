"""Remote paper venue benchmark: calls through `PaperHost` over Redis on 127.0.0.1.

The host runs in its own process (as the monitor does) with one paper venue over a fixed 20-level
book and no SQL store, so the figures are the transport's: round trip p50/p99 of order_book and
create_order from one client, with the client process's CPU time per call, then requests/s with
1 and 8 concurrent callers sharing one client process (one Redis client, a pooled connection per
waiting call). The worker target is 200
signals/s x ~8 venue calls = 1,600 calls/s. Run with `python -m bench.paper_remote`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from statistics import quantiles

import redis
import redis.asyncio

from app.adapters.paper.exchange import PAPER_CAPABILITIES, PaperExchange
from app.adapters.paper.remote import PaperHost, RemotePaperExchange
from app.adapters.redis.server import answers, start_embedded
from app.domain.market import Market
from app.domain.orders import OrderKind, OrderRequest, Side
from app.domain.paper.venue import PaperVenue
from app.ports.errors import Retryable
from bench.paper import SYMBOL, twenty_level_book

TARGET = 1_600  # venue calls per second: 200 signals/s x ~8 calls
VENUE = "paper"


async def host_main(redis_url: str, prefix: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    venue = PaperVenue(
        VENUE, [Market(SYMBOL, "BTC", "USDT")], {"USDT": Decimal(10**9), "BTC": Decimal(10**5)}
    )
    book = twenty_level_book()
    exchange = PaperExchange(venue, lambda _: book, lambda: now)
    client = redis.asyncio.Redis.from_url(redis_url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await PaperHost(client, {VENUE: exchange}, prefix=prefix).serve(stop)
    await client.aclose()


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


class Orders:
    """Market orders alternating buy and sell, so balances hold, each with a fresh id."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> OrderRequest:
        self.count += 1
        side = Side.BUY if self.count % 2 else Side.SELL
        return OrderRequest(
            f"b{uuid.uuid4().hex[:20]}", SYMBOL, side, OrderKind.MARKET, Decimal("0.001")
        )


async def latency(venue: RemotePaperExchange, calls: int, orders: Orders) -> None:
    for name in ("order_book", "create_order"):
        samples = []
        cpu = time.process_time()
        for _ in range(calls):
            started = time.perf_counter()
            if name == "order_book":
                await venue.order_book(SYMBOL)
            else:
                await venue.create_order(orders.next())
            samples.append(time.perf_counter() - started)
        cpu_us = (time.process_time() - cpu) / calls * 1e6
        p50, p99 = percentiles(samples)
        print(f"  {name:<13} round trip: p50 {p50:.2f} ms, p99 {p99:.2f} ms ({calls:,} calls);"
              f" the client's CPU {cpu_us:.0f} us a call")  # fmt: skip


async def throughput(
    venue: RemotePaperExchange, callers: int, seconds: float, orders: Orders
) -> None:
    done = 0
    deadline = time.perf_counter() + seconds

    async def caller(index: int) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            # 3 reads to 1 order, about a signal's mix of calls
            if done % 4 == index % 4:
                await venue.create_order(orders.next())
            else:
                await venue.order_book(SYMBOL)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(callers)))
    rate = done / (time.perf_counter() - started)
    print(f"  {callers} concurrent caller(s): {rate:,.0f} calls/s (target >= {TARGET:,}/s)")


async def client_main(redis_url: str, prefix: str, calls: int, seconds: float) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    venue = RemotePaperExchange(
        VENUE, client, capabilities=PAPER_CAPABILITIES, prefix=prefix, timeout_seconds=5
    )
    for _ in range(100):  # wait for the host process
        try:
            await venue.balances()
            break
        except Retryable:  # not up yet; keep the circuit closed for the measured calls
            venue.breaker.record_success()
            await asyncio.sleep(0.1)
    orders = Orders()
    await latency(venue, calls, orders)
    for callers in (1, 8):
        await throughput(venue, callers, seconds, orders)
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--host", nargs=2, metavar=("REDIS_URL", "PREFIX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.host:
        asyncio.run(host_main(*args.host))
        return

    redis_url, embedded = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"), None
    if not answers(redis_url):
        redis_url, embedded = start_embedded(Path(tempfile.mkdtemp(prefix="signalgate-bench-")))
    prefix = f"bench:paper:{uuid.uuid4().hex[:8]}"
    host = subprocess.Popen(
        [sys.executable, "-m", "bench.paper_remote", "--host", redis_url, prefix],
        env={**os.environ},
    )
    print(
        f"remote paper venue over Redis ({redis_url.rsplit('@', 1)[-1]}), host in its own process"
    )
    try:
        asyncio.run(client_main(redis_url, prefix, args.calls, args.seconds))
    finally:
        host.terminate()
        host.wait(10)
        sync = redis.Redis.from_url(redis_url)
        for key in sync.scan_iter(f"{prefix}:*"):
            sync.delete(key)
        if embedded is not None:
            embedded.terminate()
            embedded.wait(10)


if __name__ == "__main__":
    main()
