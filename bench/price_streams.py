"""Price streams vs polling: venue requests a minute on the local Binance spot fake and its market
streams (tests/venues/binance_market.py), through unmodified ccxt.

The fake's book of each symbol moves every 100 ms (as Binance's `depth@100ms` pushes). Two
readers, each run with the public book stream and without:
- the market data feed (`MARKET_DATA=ccxt:binance`, two symbols, polling every second);
- the monitor's order book reads for locally watched spot take-profits: one read of 5 levels per
  bracket per round (`--brackets`, rounds every 0.5 s), as the bracket driver asks for them.
- the worker's routing quotes: `--entries` spot entries routed and placed by the executor (each
  closed again, uncounted), its venue reading REST, or the books the monitor shares over Redis
  (`share_books`, `SharedBookVenue`; Redis `BENCH_REDIS_URL`, default db 14, its book keys
  deleted first; a scratch SQLite file).

Prints the REST requests a minute the fake received for each (ccxt.pro's snapshots included),
the ticks a minute the feed gave, the share of the monitor's reads served from the stream, and
the worker's REST book requests (and all its REST requests) per entry.

    .venv/bin/python -m bench.price_streams [--seconds 20] [--brackets 10] [--entries 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path
from statistics import median

import redis.asyncio

from app.adapters.ccxt.books import CcxtBookStream
from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.ccxt.market import CcxtMarketData
from app.adapters.redis.books import BOOK_PREFIX, RedisSharedBooks
from app.bootstrap.local import migrate
from app.config.settings import Settings
from app.domain.risk_values import RiskLimits
from app.domain.signals import Action, Signal, SignalStatus, StopKind, StopLoss, TakeProfit
from app.ports.exchange import Exchange
from app.services.streamed import SharedBookVenue, StreamedVenue, share_books
from tests.venues.binance import API_KEY, API_SECRET, spot
from tests.venues.http import Served, serve
from tests.venues.road import Deployment, deployed
from tests.venues.roads import ROADS
from tests.venues.streams import StreamServer

SYMBOLS = {"BTC/USDT": "BTCUSDT", "ETH/USDT": "ETHUSDT"}
MAX_AGE = 2.0
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


async def moving(served: Served[object], stop: asyncio.Event) -> None:
    """Every 100 ms, each symbol's book one tick up or down."""
    venue, step = served.venue, 1
    while not stop.is_set():
        step = -step
        for market in SYMBOLS.values():
            bid, ask = venue.books[market]  # type: ignore[attr-defined]
            tick = venue.markets[market].tick  # type: ignore[attr-defined]
            venue.set_price(market, bid + step * tick, ask + step * tick)  # type: ignore[attr-defined]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


def requests(served: Served[object]) -> int:
    return len(served.venue.requests)  # type: ignore[attr-defined]


async def feed_figures(streamed: bool, seconds: float) -> tuple[float, float]:
    """REST requests and ticks a minute of the market data feed."""
    with serve(spot()) as served, StreamServer(served.venue) as server:  # type: ignore[arg-type]
        stream = (CcxtBookStream("binance", mode="testnet", base_url=served.url,
                                 stream_url=server.url) if streamed else None)  # fmt: skip
        feed = CcxtMarketData("binance", list(SYMBOLS), mode="testnet", base_url=served.url,
                              stream=stream, max_age_seconds=MAX_AGE, rate_limit_ms=1)  # fmt: skip
        stop, ticks = asyncio.Event(), 0

        async def consume() -> None:
            nonlocal ticks
            async for _ in feed.ticks():
                ticks += 1

        tasks = [asyncio.create_task(moving(served, stop)), asyncio.create_task(consume())]
        await asyncio.sleep(2)  # settled: the streams subscribed
        before, counted, started = requests(served), ticks, time.perf_counter()
        await asyncio.sleep(seconds)
        minutes = (time.perf_counter() - started) / 60
        figures = ((requests(served) - before) / minutes, (ticks - counted) / minutes)
        stop.set()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await feed.close()
    return figures


async def monitor_figures(streamed: bool, seconds: float, brackets: int) -> tuple[float, float]:
    """REST requests a minute of the monitor's book reads, and the share served by the stream."""
    with serve(spot()) as served, StreamServer(served.venue) as server:  # type: ignore[arg-type]
        exchange = CcxtExchange("binance", mode="testnet", api_key=API_KEY, secret=API_SECRET,
                                base_url=served.url, rate_limit_ms=1)  # fmt: skip
        books = CcxtBookStream("binance", mode="testnet", base_url=served.url,
                               stream_url=server.url)  # fmt: skip
        venue = StreamedVenue(exchange, books, max_age_seconds=MAX_AGE) if streamed else exchange
        stop, reads = asyncio.Event(), 0
        mover = asyncio.create_task(moving(served, stop))

        async def rounds(until: float) -> None:
            nonlocal reads
            while time.perf_counter() < until:
                for i in range(brackets):
                    await venue.order_book(list(SYMBOLS)[i % len(SYMBOLS)], 5)
                    reads += 1
                await asyncio.sleep(0.5)

        await rounds(time.perf_counter() + 2)  # settled: the first reads started the streams
        before, counted, started = requests(served), reads, time.perf_counter()
        served_before = getattr(venue, "streamed", 0)
        await rounds(started + seconds)
        minutes = (time.perf_counter() - started) / 60
        share = (getattr(venue, "streamed", 0) - served_before) / max(reads - counted, 1)
        figures = ((requests(served) - before) / minutes, share)
        stop.set()
        mover.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mover
        await books.close()
        await exchange.close()
    return figures


def depth_requests(served: Served[object]) -> int:
    venue: object = served.venue
    return sum(1 for _, path in venue.requests if path.endswith("/depth"))  # type: ignore[attr-defined]


async def routing_figures(shared: bool, entries: int) -> tuple[float, float, float]:
    """The worker's REST book requests and all its REST requests per routed entry, and the
    median time of one of its book reads (ms)."""
    [road] = [road for road in ROADS if road.name == "binance"]
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    for key in await client.keys(BOOK_PREFIX + "*"):
        await client.delete(key)
    board = RedisSharedBooks(client)
    stop = asyncio.Event()
    with (tempfile.TemporaryDirectory() as scratch, serve(road.fake()) as served,
          StreamServer(served.venue) as server):  # fmt: skip
        url = f"sqlite:///{Path(scratch) / 'bench.db'}"
        migrate(Settings(database_url=url))
        books = CcxtBookStream("binance", mode="testnet", base_url=served.url,
                               stream_url=server.url)  # fmt: skip

        wrapped: list[Exchange] = []

        def wrap(exchange: Exchange) -> Exchange:
            venue = exchange
            if shared:
                venue = SharedBookVenue(exchange, board, max_age_seconds=MAX_AGE)
            wrapped.append(venue)
            return venue

        tasks = [asyncio.create_task(moving(served, stop))]
        if shared:
            tasks.append(asyncio.create_task(share_books("binance", books, board, stop, depth=20,
                                                         max_age_seconds=MAX_AGE)))  # fmt: skip
        limits = RiskLimits(max_orders_per_minute=100_000)  # an entry and a close a moment
        async with deployed(road, served, url, REDIS_URL, wrap=wrap, limits=limits) as on:
            await on.send(entry(on, Action.BUY))  # settled: a first miss starts the stream
            await on.send(Signal(symbol=road.symbol, action=Action.CLOSE, source="bench"))
            await asyncio.sleep(2)
            depth = total = 0
            for _ in range(entries):
                depth_before, before = depth_requests(served), requests(served)
                signal_id = await on.send(entry(on, Action.BUY))
                depth += depth_requests(served) - depth_before
                total += requests(served) - before
                assert on.status(signal_id) is SignalStatus.EXECUTED, on.status(signal_id)
                await on.send(Signal(symbol=road.symbol, action=Action.CLOSE, source="bench"))
            times = []
            for _ in range(200):
                started = time.perf_counter()
                await wrapped[0].order_book(road.symbol, 20)
                times.append((time.perf_counter() - started) * 1000)
        stop.set()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await books.close()
    await client.aclose()
    return depth / entries, total / entries, median(times)


def entry(on: Deployment, action: Action) -> Signal:
    return Signal(symbol=on.road.symbol, action=action, source="bench", quantity=on.road.amount,
                  take_profits=(TakeProfit(price=on.price("1.04")),),
                  stop_loss=StopLoss(StopKind.PRICE, on.price("0.96")))  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--brackets", type=int, default=10)
    parser.add_argument("--entries", type=int, default=20)
    args = parser.parse_args()
    print(f"Binance spot fake, books moving every 100 ms; {args.seconds:g} s counted")
    for streamed in (False, True):
        mode = "streams" if streamed else "polling"
        rest, ticks = await feed_figures(streamed, args.seconds)
        print(f"feed    {mode:<8} {rest:>7.0f} requests/min  {ticks:>7.0f} ticks/min"
              f"  ({len(SYMBOLS)} symbols)")  # fmt: skip
    for streamed in (False, True):
        mode = "streams" if streamed else "polling"
        rest, share = await monitor_figures(streamed, args.seconds, args.brackets)
        print(f"monitor {mode:<8} {rest:>7.0f} requests/min  {share:>7.1%} of book reads"
              f" from the stream  ({args.brackets} watched take-profits, a read each per"
              " 0.5 s round)")  # fmt: skip
    for shared in (False, True):
        mode = "shared" if shared else "REST"
        depth, total, read_ms = await routing_figures(shared, args.entries)
        print(f"worker  {mode:<8} {depth:>7.2f} REST book requests per entry  {total:>5.2f} REST"
              f" requests per entry  book read p50 {read_ms:.2f} ms  ({args.entries} spot"
              " entries routed)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
