"""Price streams vs polling: venue requests a minute on the local Binance spot fake and its market
streams (tests/venues/binance_market.py), through unmodified ccxt.

The fake's book of each symbol moves every 100 ms (as Binance's `depth@100ms` pushes). Two
readers, each run with the public book stream and without:
- the market data feed (`MARKET_DATA=ccxt:binance`, two symbols, polling every second);
- the monitor's order book reads for locally watched spot take-profits: one read of 5 levels per
  bracket per round (`--brackets`, rounds every 0.5 s), as the bracket driver asks for them.

Prints the REST requests a minute the fake received for each (ccxt.pro's snapshots included),
the ticks a minute the feed gave, and the share of the monitor's reads served from the stream.

    .venv/bin/python -m bench.price_streams [--seconds 20] [--brackets 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time

from app.adapters.ccxt.books import CcxtBookStream
from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.ccxt.market import CcxtMarketData
from app.services.streamed import StreamedVenue
from tests.venues.binance import API_KEY, API_SECRET, spot
from tests.venues.http import Served, serve
from tests.venues.streams import StreamServer

SYMBOLS = {"BTC/USDT": "BTCUSDT", "ETH/USDT": "ETHUSDT"}
MAX_AGE = 2.0


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


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--brackets", type=int, default=10)
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


if __name__ == "__main__":
    asyncio.run(main())
