"""The workers' routing quotes from the monitor's streamed books: the monitor follows a venue's
public book stream (ccxt.pro's watch_order_book, unmodified, against the local fakes of Binance
spot and USD-M) and shares each update over Redis (`share_books`); the worker's venue
(`SharedBookVenue`) routes an entry on the shared book without a REST book request while it is
fresh, and reads the venue's REST when the stream went quiet and the copy expired, or when the
copy is older than the worker's bound.

No test measures time: what is asserted is which road a price took (the fake counts its REST
book reads), after waiting for what the monitor did (a copy shared, a book older than the bound,
a symbol followed or not), never for a guessed time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio

from app.adapters.ccxt.books import CcxtBookStream
from app.adapters.redis.books import ASKED_PREFIX, RedisSharedBooks, book_key
from app.domain.market import Level, OrderBook
from app.domain.orders import Leg
from app.domain.signals import Action, Signal, SignalStatus, StopKind, StopLoss, TakeProfit
from app.ports.exchange import Exchange
from app.services.streamed import SharedBookVenue, share_books
from tests.integration.test_price_streams import LONG, Live, depth_reads, move
from tests.venues.http import serve
from tests.venues.road import Deployment, Road, deployed
from tests.venues.roads import ROADS
from tests.venues.streams import StreamServer, until

pytestmark = pytest.mark.anyio
STREAMED = [road for road in ROADS if road.name in ("binance", "binanceusdm")]
DEPTH = 20  # the execution policy's book depth
FOLLOWED = 600.0  # the monitor follows a symbol no worker read for this long no more


@pytest.fixture(params=STREAMED, ids=lambda road: road.name)
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    road: Road = request.param
    with serve(road.fake()) as served, StreamServer(served.venue) as streams:
        yield Live(road, served, streams)


@dataclass
class Quoting:
    """The monitor sharing its streamed books, and the worker's road reading them."""

    live: Live
    on: Deployment
    stream: CcxtBookStream
    client: redis.asyncio.Redis
    venue: SharedBookVenue

    async def entry(self) -> str:
        """An entry routed and placed by the worker; its signal id."""
        on = self.on
        up, down = on.price("1.04"), on.price("0.96")
        signal = Signal(symbol=on.road.symbol, action=Action.BUY, source="tradingview:native",
                        quantity=on.road.amount, take_profits=(TakeProfit(price=up),),
                        stop_loss=StopLoss(StopKind.PRICE, down))  # fmt: skip
        signal_id = await on.send(signal)
        assert on.status(signal_id) is SignalStatus.EXECUTED
        assert len(on.on_venue(signal_id, Leg.ENTRY)) == 1
        return signal_id

    async def shared(self) -> bool:
        key = book_key(self.live.road.name, self.live.road.symbol)
        return bool(await self.client.exists(key))


@contextlib.asynccontextmanager
async def quoting(
    live: Live, sqlite_url: str, redis_url: str, *, max_age: float,
    wall: Callable[[], float] = time.time,
) -> AsyncIterator[Quoting]:  # fmt: skip
    """The monitor's `share_books` (reading what the workers asked for every 50 ms, following
    it for `FOLLOWED` seconds) and the worker's road, its venue a `SharedBookVenue`; `wall`:
    the clock of both sides' Redis books."""
    client = redis.asyncio.Redis.from_url(redis_url)
    shared = RedisSharedBooks(client, wall=wall)
    stream = live.book_stream()
    venues: list[SharedBookVenue] = []

    def wrap(exchange: Exchange) -> Exchange:
        venues.append(SharedBookVenue(exchange, shared, max_age_seconds=max_age))
        return venues[0]

    halt = asyncio.Event()
    sharing = asyncio.create_task(share_books(live.road.name, stream, shared, halt, depth=DEPTH,
                                              max_age_seconds=max_age, followed_seconds=FOLLOWED,
                                              asked_every_seconds=0.05))  # fmt: skip
    try:
        async with deployed(live.road, live.served, sqlite_url, redis_url, wrap=wrap) as on:
            yield Quoting(live, on, stream, client, venues[0])
    finally:
        halt.set()
        sharing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sharing
        await stream.close()
        await client.aclose()


async def test_a_streamed_book_routes_an_entry_without_a_rest_book_request(
    live: Live, sqlite_url: str, redis_url: str
) -> None:
    async with quoting(live, sqlite_url, redis_url, max_age=LONG) as q:
        symbol = live.road.symbol
        reads = depth_reads(live)
        await q.venue.order_book(symbol, DEPTH)  # a quote with no shared book: the venue's REST
        assert q.venue.streamed == 0
        # (not `== reads + 1`: the monitor, asked for the symbol by that read, may have sent its
        # stream's snapshot request meanwhile)
        assert depth_reads(live) > reads
        await until(lambda: q.stream.updates > 0)  # and the monitor follows the symbol now
        moved = move(live, "5")
        await until_shared(q)
        book = await q.venue.order_book(symbol, DEPTH)
        if book.mid != moved:  # the snapshot was shared first; the move follows
            await until_moved(q, moved)
        reads, streamed = depth_reads(live), q.venue.streamed

        await q.entry()

        assert depth_reads(live) == reads  # routed on the shared book
        assert q.venue.streamed > streamed


async def until_moved(q: Quoting, mid: Decimal) -> None:
    for _ in range(1500):
        book = await q.venue.order_book(q.live.road.symbol, DEPTH)
        if book.mid == mid:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the shared book did not move")


async def until_shared(q: Quoting, shared: bool = True) -> None:
    for _ in range(1500):
        if await q.shared() == shared:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the shared book did not " + ("appear" if shared else "expire"))


async def test_a_muted_stream_lets_the_copy_expire_and_the_worker_reads_rest(
    live: Live, sqlite_url: str, redis_url: str
) -> None:
    max_age, symbol = 1.0, live.road.symbol
    async with quoting(live, sqlite_url, redis_url, max_age=max_age) as q:
        q.stream.watch(symbol)  # as a worker's miss asks
        # the stream's first book (its snapshot) shared: waited for, since the monitor publishes
        # a moment after the stream's update (a "no key" seen before that is not an expiry)
        await until_shared(q)
        live.streams.muted = True  # alive, and says nothing
        move(live, "25")
        # no copy can be a price any more: the monitor's book is older than the bound (nothing
        # of it is published again, and a reader refuses a copy older than its bound), and the
        # copy expired in Redis
        await until(lambda: (q.stream.age(symbol) or 0.0) > max_age)
        await until_shared(q, shared=False)
        reads, streamed = depth_reads(live), q.venue.streamed

        await q.entry()

        assert q.venue.streamed == streamed
        assert depth_reads(live) > reads  # the venue's REST (a read that timed out: twice)


class Wall:
    """A wall clock that moves when the test says."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_symbol_no_worker_read_lately_is_not_followed_any_more(
    live: Live, sqlite_url: str, redis_url: str
) -> None:
    symbol, wall = live.road.symbol, Wall()
    depth_stream = f"{live.road.market_id.lower()}@depth@100ms"
    async with quoting(live, sqlite_url, redis_url, max_age=LONG, wall=wall) as q:
        await q.venue.order_book(symbol, DEPTH)  # a worker's read asks for the symbol
        await until(lambda: symbol in q.stream.following())
        await until(lambda: q.stream.updates > 0)  # the monitor's stream subscribed

        wall.now += FOLLOWED + 1  # and no worker read it since: the monitor lets it go
        await until(lambda: symbol not in q.stream.following())

        assert await q.client.zrange(ASKED_PREFIX + live.road.name, 0, -1) == []  # forgotten
        assert q.stream.fresh(symbol, DEPTH, LONG) is None
        await until(lambda: depth_stream not in live.streams.subscribed())  # the venue told
        await q.venue.order_book(symbol, DEPTH)  # asked for again: followed again
        await until(lambda: symbol in q.stream.following())


async def test_a_copy_older_than_the_readers_bound_is_not_a_price(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    book = OrderBook("BTC/USDT", (Level(Decimal(99), Decimal(1)),),
                     (Level(Decimal(101), Decimal(1)),))  # fmt: skip
    try:
        # published at t=1000 (a second old then), kept for an hour: the reader's clock decides
        await RedisSharedBooks(client, wall=lambda: 1000.0).publish(
            "binance", [(book, 1.0)], 5, LONG
        )
        at = RedisSharedBooks(client, wall=lambda: 1003.0)

        assert await at.read("binance", "BTC/USDT", 5, 3.5) is None  # updated 4 s before
        assert await at.read("binance", "BTC/USDT", 5, 4.5) == book
        assert await at.read("binance", "BTC/USDT", 1, 4.5) == book
        assert await at.wanted("binance", LONG) == {"BTC/USDT"}
    finally:
        await client.aclose()


async def test_a_copy_cut_shallower_than_asked_is_not_the_book(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    levels = tuple(Level(Decimal(100 - n), Decimal(1)) for n in range(1, 4))
    asks = tuple(Level(Decimal(100 + n), Decimal(1)) for n in range(1, 4))
    shared = RedisSharedBooks(client)
    try:
        await shared.publish("binance", [(OrderBook("BTC/USDT", levels, asks), 0.0)], 3, LONG)
        await shared.publish("binance", [(OrderBook("ETH/USDT", levels[:2], asks[:2]), 0.0)], 3,
                             LONG)  # fmt: skip

        assert await shared.read("binance", "BTC/USDT", 5, LONG) is None  # cut at 3 levels
        cut = await shared.read("binance", "BTC/USDT", 2, LONG)
        assert cut is not None
        assert (cut.bids, cut.asks) == (levels[:2], asks[:2])
        whole: Any = await shared.read("binance", "ETH/USDT", 5, LONG)  # 2 levels: all it has
        assert whole.bids == levels[:2]
    finally:
        await client.aclose()


async def test_the_symbols_asked_for_are_those_read_within_the_bound(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)

    def at(wall: float) -> RedisSharedBooks:
        return RedisSharedBooks(client, wall=lambda: wall)

    try:
        await at(1000.0).read("binance", "BTC/USDT", 5, LONG)  # no book: asked for all the same
        await at(1500.0).read("binance", "ETH/USDT", 5, LONG)
        await at(1500.0).read("binanceusdm", "BTC/USDT:USDT", 5, LONG)

        assert await at(1600.0).wanted("binance", 700.0) == {"BTC/USDT", "ETH/USDT"}
        assert await at(1600.0).wanted("binance", 200.0) == {"ETH/USDT"}
        assert await client.zrange(ASKED_PREFIX + "binance", 0, -1) == [b"ETH/USDT"]
        await at(1620.0).read("binance", "BTC/USDT", 5, LONG)  # read again: asked anew
        assert await at(1650.0).wanted("binance", 200.0) == {"BTC/USDT", "ETH/USDT"}
        assert await at(1650.0).wanted("binanceusdm", 500.0) == {"BTC/USDT:USDT"}
    finally:
        await client.aclose()
