"""Live public market data: the `MarketData` port over a ccxt async exchange, by polling or
from the venue's public book stream.

Polling: every `interval` seconds the order book of each symbol is fetched (and, when asked,
its ticker for the last price and volume); one tick per symbol per poll is given and the book is
kept for `order_book()`. Only public endpoints are used: no keys.

Streamed (`stream`, a `CcxtBookStream`): a tick at each update of a symbol's streamed book. A
symbol whose streamed book is older than `max_age_seconds` (the stream dropped, or said nothing)
is polled every `interval` as above until its stream is fresh again: a stale stream is never
taken as a price, and the feed never pauses longer than it would by polling.

Transient trouble (network errors, 429, 5xx) never ends `ticks()`: the poll is retried after a
backoff that doubles up to a cap, and ticks resume when the venue is back. One line is logged
when an outage starts and one when it ends, not one per failed poll. A refusal that retrying
cannot fix (an unknown symbol) is raised as the port's `Fatal` error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ccxt.base import errors as ccxt_errors

from app.adapters.ccxt.calls import translate
from app.adapters.ccxt.client import Mode, OwnsCcxtClient, ccxt_client, venue_profile
from app.adapters.ccxt.parsing import decimal_or_none, levels, utc
from app.domain.market import OrderBook, Tick
from app.ports.errors import Retryable

if TYPE_CHECKING:  # ccxt.pro loads every venue's websocket module: only when streamed
    from app.adapters.ccxt.books import CcxtBookStream

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CcxtMarketData(OwnsCcxtClient):
    """Implements `app.ports.exchange.MarketData` by polling a ccxt async exchange's public
    endpoints.

    Args:
        exchange_id: a row of `profiles.VENUES` (its ccxt options and URL layout).
        symbols: unified symbols, e.g. ``["BTC/USDT", "ETH/USDT"]``.
        interval: seconds from the start of one poll to the start of the next.
        depth: levels fetched and kept per side.
        with_ticker: also fetch the ticker, for the last price and the 24 h volume; without it
            the price is the book's mid.
        backoff_seconds, max_backoff_seconds: the first wait after a failed poll, doubled after
            each further failure up to the cap; back to the interval after a success.
        base_url: overrides the venue's API root (the local fake in tests).
        rate_limit_ms: overrides ccxt's pause between requests (its throttle stays on).
        stream: the venue's public book stream (ticks from it while it is fresh); None: polls.
        max_age_seconds: a streamed book older than this is not a price (that symbol is
            polled until its stream is fresh again).
        sleep, clock, now: injected for tests (`clock` is monotonic seconds, `now` stamps ticks
            when the venue's book carries no time).

    Use one instance per event loop and `await close()` it (or `async with`).
    """

    def __init__(
        self,
        exchange_id: str,
        symbols: Sequence[str],
        *,
        interval: float = 1.0,
        depth: int = 20,
        with_ticker: bool = False,
        mode: Mode = "live",
        base_url: str | None = None,
        options: Mapping[str, object] | None = None,
        timeout_ms: int = 10_000,
        rate_limit_ms: int | None = None,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
        stream: CcxtBookStream | None = None,
        max_age_seconds: float = 2.0,
    ) -> None:
        profile = venue_profile(exchange_id, mode)
        if not symbols:
            raise ValueError("market data needs at least one symbol")
        if interval <= 0 or depth <= 0 or backoff_seconds <= 0:
            raise ValueError("interval, depth and backoff_seconds must be positive")
        if max_backoff_seconds < backoff_seconds:
            raise ValueError("max_backoff_seconds must be at least backoff_seconds")
        self.name = exchange_id
        self.symbols = tuple(symbols)
        self.interval = interval
        self.depth = depth
        self.with_ticker = with_ticker
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._sleep = sleep
        self._clock = clock
        self._now = now
        self._books: dict[str, OrderBook] = {}
        self.stream, self.max_age_seconds = stream, max_age_seconds
        self.polls = 0  # books read over REST, since the start (tests, bench)
        self.client = ccxt_client(  # public endpoints only: no keys
            exchange_id,
            mode,
            profile,
            base_url=base_url,
            options=options,
            timeout_ms=timeout_ms,
            rate_limit_ms=rate_limit_ms,
        )

    def __repr__(self) -> str:
        return f"CcxtMarketData({self.name!r}, {list(self.symbols)!r})"

    # --- the port ------------------------------------------------------------------------------

    def order_book(self, symbol: str, depth: int = 20) -> OrderBook | None:
        book = self._books.get(symbol)
        if book is None or (len(book.bids) <= depth and len(book.asks) <= depth):
            return book
        return OrderBook(symbol, book.bids[:depth], book.asks[:depth], book.at)

    async def ticks(self) -> AsyncIterator[Tick]:
        """Endless: one tick per symbol per poll, or per update of its fresh streamed book.
        Raises only what retrying cannot fix."""
        ticks = self._polled() if self.stream is None else self._streamed(self.stream)
        async for tick in ticks:
            yield tick

    async def _streamed(self, stream: CcxtBookStream) -> AsyncIterator[Tick]:
        stream.watch_all(self.symbols)
        due = dict.fromkeys(self.symbols, self._clock())  # when a stale symbol is polled next
        delay = self.backoff_seconds
        while True:
            changed = await stream.changed(self.interval)
            for symbol in self.symbols:
                book = stream.fresh(symbol, self.depth, self.max_age_seconds)
                if book is not None:
                    due[symbol] = self._clock() + self.interval
                    if symbol in changed and (tick := self._tick(book, {})) is not None:
                        yield tick
                    continue
                if self._clock() < due[symbol]:
                    continue
                try:
                    tick = await self._poll(symbol)
                except Retryable as error:
                    log.warning("%s market data: %s unavailable over REST too (%s); retrying in"
                                " %.1f s", self.name, symbol, error, delay)  # fmt: skip
                    due[symbol] = self._clock() + delay
                    delay = min(delay * 2, self.max_backoff_seconds)
                    continue
                delay = self.backoff_seconds
                due[symbol] = self._clock() + self.interval
                if tick is not None:
                    yield tick

    async def _polled(self) -> AsyncIterator[Tick]:
        delay = self.backoff_seconds
        outage: tuple[float, int, str] | None = None  # since, failed polls, first error
        while True:
            started = self._clock()
            try:
                for symbol in self.symbols:
                    tick = await self._poll(symbol)
                    if outage is not None:
                        since, failures, _ = outage
                        log.info("%s market data is back after %d failed polls in %.1f s",
                                 self.name, failures, self._clock() - since)  # fmt: skip
                        outage, delay = None, self.backoff_seconds
                    if tick is not None:
                        yield tick
            except Retryable as error:
                if outage is None:
                    log.warning("%s market data unavailable (%s); retrying with a backoff",
                                self.name, error)  # fmt: skip
                    outage = (started, 1, str(error))
                else:
                    outage = (outage[0], outage[1] + 1, outage[2])
                await self._sleep(delay)
                delay = min(delay * 2, self.max_backoff_seconds)
                continue
            await self._sleep(max(0.0, self.interval - (self._clock() - started)))

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.close()
        await self.client.close()

    # --- one symbol ----------------------------------------------------------------------------

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self.client, method)(*args)
        except ccxt_errors.BaseError as error:
            raise translate(error) from error

    async def _poll(self, symbol: str) -> Tick | None:
        """Fetch the book (and ticker) of `symbol`, keep the book, and give its tick (None when
        there is no price at all)."""
        raw = await self._call("fetch_order_book", symbol, self.depth)
        self.polls += 1
        ticker: Mapping[str, Any] = (
            await self._call("fetch_ticker", symbol) if self.with_ticker else {}
        )
        book = OrderBook(
            symbol=symbol,
            bids=levels(raw.get("bids") or [], self.depth),
            asks=levels(raw.get("asks") or [], self.depth),
            at=utc(raw.get("timestamp")) or utc(ticker.get("timestamp")),
        )
        return self._tick(book, ticker)

    def _tick(self, book: OrderBook, ticker: Mapping[str, Any]) -> Tick | None:
        """Keep `book` as the symbol's latest and give its tick (None without any price)."""
        if book.at is None:
            book = OrderBook(book.symbol, book.bids, book.asks, self._now())
        self._books[book.symbol] = book
        price = decimal_or_none(ticker.get("last")) or book.mid
        if price is None:
            return None
        return Tick(
            symbol=book.symbol,
            at=book.at or self._now(),
            price=price,
            bid=book.best_bid,
            ask=book.best_ask,
            volume=decimal_or_none(ticker.get("baseVolume")) or Decimal(0),
        )
