"""Prices from the venues' public book streams, through unmodified ccxt (ccxt.pro's
watch_order_book) against the local fakes of Binance spot and USD-M and their market streams
(tests/venues/binance_market.py): the market data feed ticks from the stream and polls only
while the stream is down or stale, the strategy engine trades on those ticks through the
monitor's feed, and a venue's quotes come from a fresh streamed book without a request, never
from a stale one.

No test measures time: bounds are generous, and what is asserted is which road a price took
(the fake counts its REST book reads)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio

from app.adapters.ccxt.books import CcxtBookStream
from app.adapters.ccxt.market import CcxtMarketData
from app.adapters.paper.remote import PaperHost
from app.adapters.redis.ticks import RedisTickFeed, TickPublisher
from app.bootstrap.monitor import _feed
from app.domain.market import Tick
from app.domain.strategy import Proposal
from app.services.strategy.engine import StrategyEngine
from app.services.streamed import StreamedVenue
from tests.venues.http import Served, serve
from tests.venues.road import Road
from tests.venues.roads import ROADS
from tests.venues.streams import StreamServer, until

pytestmark = pytest.mark.anyio
STREAMED = [road for road in ROADS if road.name in ("binance", "binanceusdm")]
LONG = 3600.0  # a max age no test outlives: fresh means "the stream said it"


@dataclass
class Live:
    """A venue's fake serving REST and its streams."""

    road: Road
    served: Served[Any]
    streams: StreamServer

    def book_stream(self) -> CcxtBookStream:
        road = self.road
        return CcxtBookStream(road.name, mode=road.mode, base_url=self.served.url,
                              stream_url=self.streams.url, options=road.options,
                              backoff_seconds=0.05, max_backoff_seconds=0.2)  # fmt: skip


@pytest.fixture(params=STREAMED, ids=lambda road: road.name)
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    road: Road = request.param
    with serve(road.fake()) as served, StreamServer(served.venue) as streams:
        yield Live(road, served, streams)


def depth_reads(live: Live) -> int:
    """The REST book reads the fake answered (ccxt.pro's snapshots included)."""
    venue = live.served.venue
    with venue.lock:
        return sum(1 for _, path in venue.requests if path.endswith("/depth"))


def move(live: Live, by: str) -> Decimal:
    """Move the fake's book by `by` (quote units); the new mid."""
    venue, market_id = live.served.venue, live.road.market_id
    bid, ask = venue.books[market_id]
    venue.set_price(market_id, bid + Decimal(by), ask + Decimal(by))
    return (bid + ask) / 2 + Decimal(by)


class Ticks:
    """The feed's ticks, collected by a task until the test ends."""

    def __init__(self) -> None:
        self.seen: list[Tick] = []

    def prices(self) -> list[Decimal]:
        return [tick.price for tick in self.seen]


@contextlib.asynccontextmanager
async def running(feed: CcxtMarketData) -> AsyncIterator[Ticks]:
    collected = Ticks()

    async def collect() -> None:
        async for tick in feed.ticks():
            collected.seen.append(tick)

    task = asyncio.create_task(collect())
    try:
        yield collected
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await feed.close()


def market_data(live: Live, *, max_age: float) -> CcxtMarketData:
    road = live.road
    return CcxtMarketData(road.name, [road.symbol], mode=road.mode, base_url=live.served.url,
                          options=road.options, interval=0.05, backoff_seconds=0.05,
                          stream=live.book_stream(), max_age_seconds=max_age)  # fmt: skip


async def test_the_feed_ticks_from_the_stream_without_polling(live: Live) -> None:
    road = live.road
    feed = market_data(live, max_age=LONG)
    async with running(feed) as ticks:
        assert feed.stream is not None
        await until(lambda: feed.stream is not None and feed.stream.updates > 0)
        first = move(live, "5")
        await until(lambda: first in ticks.prices())  # a poll begun before it is over
        polls = feed.polls

        for by in ("10", "20", "-15"):
            price = move(live, by)
            await until(lambda: ticks.prices()[-1:] == [price])  # noqa: B023 - awaited here

        assert feed.polls == polls  # every price came from the stream
        assert feed.order_book(road.symbol) is not None


async def test_a_dropped_stream_falls_back_to_polling_and_recovers(live: Live) -> None:
    streams = live.streams
    feed = market_data(live, max_age=0.3)
    async with running(feed) as ticks:
        assert feed.stream is not None
        await until(lambda: feed.stream is not None and feed.stream.updates > 0)
        streams.refusing = True
        streams.drop()
        down = move(live, "30")
        polls = feed.polls

        await until(lambda: down in ticks.prices())  # the stream is down: polled
        assert feed.polls > polls

        streams.refusing = False
        updates = feed.stream.updates
        await until(lambda: feed.stream is not None and feed.stream.updates > updates)
        back = move(live, "40")
        await until(lambda: back in ticks.prices())
        assert feed.stream.updates > updates + 1  # the move came over the stream again
        assert feed.stream.drops >= 1


async def test_a_silent_stream_is_not_a_price_the_venue_is_read_instead(live: Live) -> None:
    road, streams = live.road, live.streams
    venue = StreamedVenue(road.exchange(live.served), live.book_stream(), max_age_seconds=0.3)
    books = venue.books
    assert isinstance(books, CcxtBookStream)
    try:
        first = await venue.order_book(road.symbol, 5)  # no stream yet: the venue's REST
        await until(lambda: books.fresh(road.symbol, 5, LONG) is not None)
        reads = depth_reads(live)

        moved = move(live, "25")
        await until(lambda: (b := books.fresh(road.symbol, 5, 0.3)) is not None and b.mid == moved)
        book = await venue.order_book(road.symbol, 5)
        assert book.mid == moved
        assert venue.streamed >= 1
        assert depth_reads(live) == reads  # a fresh streamed book: no request

        streams.muted = True  # alive, and says nothing
        unseen = move(live, "50")
        await until(lambda: books.fresh(road.symbol, 5, 0.3) is None)
        book = await venue.order_book(road.symbol, 5)
        assert book.mid == unseen  # the stale stream's price was not taken
        assert depth_reads(live) == reads + 1
        assert first.mid is not None
        assert first.mid != unseen
    finally:
        await books.close()
        close = getattr(venue.venue, "close", None)
        if close is not None:
            await close()


async def test_an_unwatched_book_is_unsubscribed_and_followed_again_from_a_new_snapshot(
    live: Live,
) -> None:
    symbol, depth_stream = live.road.symbol, f"{live.road.market_id.lower()}@depth@100ms"
    books = live.book_stream()
    try:
        assert books.watch(symbol)
        assert not books.watch(symbol)  # followed already
        await until(lambda: books.fresh(symbol, 5, LONG) is not None)
        assert depth_stream in live.streams.subscribed()

        books.unwatch(symbol)

        assert books.fresh(symbol, 5, LONG) is None  # at once: never a price again
        assert symbol not in books.following()
        await until(lambda: depth_stream not in live.streams.subscribed())  # the venue told
        reads, moved = depth_reads(live), move(live, "15")  # a move no stream carries
        assert books.watch(symbol)
        await until(lambda: (b := books.fresh(symbol, 5, LONG)) is not None and b.mid == moved)
        assert depth_reads(live) > reads  # ccxt read a new snapshot
        assert depth_stream in live.streams.subscribed()

        books.unwatch(symbol)  # and watched again at once, before the venue answered
        assert books.watch(symbol)
        moved = move(live, "-5")
        await until(lambda: (b := books.fresh(symbol, 5, LONG)) is not None and b.mid == moved)
    finally:
        await books.close()


class Recording:
    """A strategy that proposes nothing and keeps every price it was given."""

    name = "recording"

    def __init__(self) -> None:
        self.prices: list[float] = []

    def on_price(self, symbol: str, price: float, at: datetime) -> Proposal | None:
        self.prices.append(price)
        return None

    def reset(self, symbol: str) -> None:
        pass


async def test_streamed_prices_reach_the_strategy_engine_through_the_monitors_feed(
    live: Live, redis_url: str
) -> None:
    road = live.road
    feed = market_data(live, max_age=LONG)
    client = redis.asyncio.Redis.from_url(redis_url)
    strategy = Recording()

    async def submit(_: object) -> str:
        return "filtered"

    engine = StrategyEngine({road.symbol: [strategy]}, submit)
    halt = asyncio.Event()
    trading = asyncio.create_task(engine.run(RedisTickFeed(client), halt))
    feeding = asyncio.create_task(_feed(feed, PaperHost(client, {}), TickPublisher(client),
                                        halt, None))  # fmt: skip
    try:
        assert feed.stream is not None
        await until(lambda: feed.stream is not None and feed.stream.updates > 0)
        await asyncio.sleep(0.2)  # the engine's subscription is live
        price = move(live, "35")
        await until(lambda: float(price) in strategy.prices)
    finally:
        halt.set()
        for task in (trading, feeding):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await feed.close()
        await client.aclose()
