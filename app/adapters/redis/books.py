"""`SharedBooks` over Redis: the monitor's fresh streamed order books, for the workers' quotes.

A book is a key per venue and symbol (`signalgate:book:{venue}:{symbol}`) that expires when the
book is `max_age_seconds` old, counted from the stream's last update (Redis's one clock), with
the wall time of that update inside: a reader refuses a book older than its own bound too, so
neither a late read nor a key written with a longer expiry can hand out a stale price.

Every read marks its symbol asked for in the same round trip: a sorted set per venue
(`signalgate:books:asked:{venue}`, each symbol scored with the wall time it was last read). The
monitor follows the symbols asked for within a bound on the venue's stream, and forgets the
others (`wanted`), so the set holds what the workers trade lately, not every symbol they ever
read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import msgspec
import redis.asyncio
from redis.exceptions import RedisError

from app.domain.market import OrderBook

log = logging.getLogger(__name__)
BOOK_PREFIX = "signalgate:book:"
ASKED_PREFIX = "signalgate:books:asked:"  # a sorted set: symbol -> last read


class SharedBook(msgspec.Struct, frozen=True):
    book: OrderBook
    updated_at: float  # wall-clock seconds of the stream's update that made this book
    depth: int  # the levels a side asked of the stream: a shallower book is the whole book


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SharedBook)


def book_key(venue: str, symbol: str) -> str:
    return f"{BOOK_PREFIX}{venue}:{symbol}"


class RedisSharedBooks:
    """Implements `app.ports.streams.SharedBooks`; `wall`: the clock of `updated_at`."""

    def __init__(
        self, client: redis.asyncio.Redis, *, wall: Callable[[], float] = time.time
    ) -> None:
        self._client, self._wall = client, wall

    async def publish(
        self, venue: str, books: list[tuple[OrderBook, float]], depth: int, max_age_seconds: float
    ) -> None:
        now = self._wall()
        async with self._client.pipeline(transaction=False) as pipe:
            for book, age in books:
                left_ms = int((max_age_seconds - age) * 1000)
                if left_ms <= 0:
                    continue
                shared = SharedBook(book, now - age, depth)
                pipe.set(book_key(venue, book.symbol), _encoder.encode(shared), px=left_ms)
            await pipe.execute()

    async def read(
        self, venue: str, symbol: str, depth: int, max_age_seconds: float
    ) -> OrderBook | None:
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.get(book_key(venue, symbol))
                pipe.zadd(ASKED_PREFIX + venue, {symbol: self._wall()})
                raw, _ = await pipe.execute()
        except (RedisError, OSError) as error:  # no shared book: the caller reads the venue
            log.info("shared book of %s %s unreadable (%s); reading the venue", venue, symbol,
                     error)  # fmt: skip
            return None
        if raw is None:
            return None
        shared = _decoder.decode(raw)
        if self._wall() - shared.updated_at > max_age_seconds:
            return None
        book = shared.book
        if shared.depth < depth and max(len(book.bids), len(book.asks)) >= shared.depth:
            return None  # cut at fewer levels than asked for
        if len(book.bids) <= depth and len(book.asks) <= depth:
            return book
        return OrderBook(book.symbol, book.bids[:depth], book.asks[:depth], book.at)

    async def wanted(self, venue: str, within_seconds: float) -> set[str]:
        key = ASKED_PREFIX + venue
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(key, "-inf", f"({self._wall() - within_seconds!r}")
            pipe.zrange(key, 0, -1)
            _, members = await pipe.execute()
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}
