"""Ticks shared over Redis pub/sub: the monitor publishes the ticks that price its paper venues,
and the strategy process trades on the very same prices.

Pub/sub keeps nothing for a subscriber that is away: after an outage the feed resubscribes with
a backoff, and the strategy engine sees the gap in the ticks' times (and warms up again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import msgspec
import redis.asyncio
from redis.exceptions import RedisError

from app.domain.market import OrderBook, Tick

log = logging.getLogger("signalgate.ticks")

TICKS_CHANNEL = "signalgate:ticks"
_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Tick)


class TickPublisher:
    def __init__(self, client: redis.asyncio.Redis, channel: str = TICKS_CHANNEL) -> None:
        self._client = client
        self._channel = channel

    async def publish(self, tick: Tick) -> None:
        """Publish one tick; a Redis failure only costs subscribers this tick."""
        try:
            await self._client.publish(self._channel, _encoder.encode(tick))
        except RedisError as error:
            log.debug("tick for %s not published: %s", tick.symbol, error)


class RedisTickFeed:
    """`MarketData` from the ticks another process publishes; no order books."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        channel: str = TICKS_CHANNEL,
        *,
        max_backoff_seconds: float = 5.0,
    ) -> None:
        self._client = client
        self._channel = channel
        self._max_backoff = max_backoff_seconds

    async def ticks(self) -> AsyncIterator[Tick]:
        backoff = 0.2
        while True:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self._channel)
                    if backoff > 0.2:
                        log.info("ticks: subscribed to %s again", self._channel)
                    backoff = 0.2
                    while True:
                        message = await pubsub.get_message(timeout=1.0)
                        if message is None:
                            continue
                        try:
                            yield _decoder.decode(message["data"])
                        except msgspec.DecodeError as error:
                            log.warning("ticks: dropped an unreadable message (%s)", error)
            except (RedisError, OSError) as error:
                log.warning("ticks: Redis failed (%s); subscribing again in %.1f s", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def order_book(self, symbol: str, depth: int = 20) -> OrderBook | None:
        return None
