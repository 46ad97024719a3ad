"""The `BookStream` port over ccxt.pro's `watch_order_book`: a venue's public order books, kept
current from its diff stream, each with the monotonic time it was last updated.

ccxt reads each book's snapshot over REST once per subscription and applies the stream's diff
updates to it; an update that does not follow the one before (a lost message) makes ccxt raise,
and the book is subscribed again from a new snapshot. A symbol is followed by a task of its own
from its first `watch`: an error drops its book at once (never served while down), and the
watch starts again after a backoff that doubles up to a cap, with full jitter. ccxt opens a new
connection by itself after the venue closed one.

`unwatch` stops following a symbol at once (its book is dropped) and unsubscribes on the venue
in the background (ccxt's `un_watch_order_book`); a later `watch` of it subscribes again, from a
new snapshot.

What is fresh is the caller's bound (`fresh(..., max_age_seconds)`): a book whose stream said
nothing for longer is not served, whatever the reason (a dead connection the venue did not
close, a book that did not move): the caller reads the venue's REST instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import ccxt.pro as ccxt_pro

from app.adapters.ccxt import parsing
from app.adapters.ccxt.client import Mode, OwnsCcxtClient, ccxt_client, venue_profile
from app.adapters.ccxt.price_streams import PRICE_STREAM_PATHS
from app.adapters.ccxt.streams import overridden_stream_urls
from app.domain.market import OrderBook

log = logging.getLogger(__name__)

SNAPSHOT_DEPTH = 100  # levels of the REST snapshot (Binance: weight 5 up to 100)
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
UNSUBSCRIBE_SECONDS = 10.0  # a venue that does not answer an unsubscription is left to it


class CcxtBookStream(OwnsCcxtClient):
    """Implements `app.ports.streams.BookStream` for one ccxt venue (public data: no keys).

    Args:
        exchange_id: a row of `PRICE_STREAM_PATHS` and of the venue profiles.
        base_url: the venue's REST root for the snapshots (the local fake in tests).
        stream_url: the venue's websocket root instead of its own (a proxy, the fakes).
        clock: monotonic seconds; sleep, jitter: injected for tests.

    Use one instance per event loop and `await close()` it.
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        mode: Mode = "live",
        base_url: str | None = None,
        stream_url: str | None = None,
        options: Mapping[str, object] | None = None,
        timeout_ms: int = 10_000,
        snapshot_depth: int = SNAPSHOT_DEPTH,
        backoff_seconds: float = BACKOFF_SECONDS,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        profile = venue_profile(exchange_id, mode)
        self.name = exchange_id
        self.snapshot_depth = snapshot_depth
        self.backoff_seconds, self.max_backoff_seconds = backoff_seconds, max_backoff_seconds
        self._clock, self._sleep, self._jitter = clock, sleep, jitter
        self.client = ccxt_client(exchange_id, mode, profile, base_url=base_url, options=options,
                                  timeout_ms=timeout_ms, module=ccxt_pro)  # fmt: skip
        if stream_url is not None:
            self.client.urls["api"]["ws"] = overridden_stream_urls(
                self.client.urls["api"].get("ws"), stream_url, PRICE_STREAM_PATHS[exchange_id]
            )
        self._books: dict[str, tuple[OrderBook, float]] = {}  # symbol -> book, updated at
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._leaving: set[asyncio.Task[None]] = set()  # unsubscriptions under way
        self._changed: set[str] = set()
        self._wake = asyncio.Event()
        self.updates = 0  # books received, since the start (tests, bench)
        self.drops = 0  # watches that failed (a drop, a lost update, a refusal)

    def __repr__(self) -> str:
        return f"CcxtBookStream({self.name!r}, {sorted(self._tasks)!r})"

    # --- the port ------------------------------------------------------------------------------

    def watch(self, symbol: str) -> bool:
        if symbol in self._tasks:
            return False
        self._tasks[symbol] = asyncio.ensure_future(self._follow(symbol))
        return True

    def unwatch(self, symbol: str) -> None:
        task = self._tasks.pop(symbol, None)
        if task is None:
            return
        task.cancel()
        self._books.pop(symbol, None)
        self._changed.discard(symbol)
        leaving = asyncio.ensure_future(self._leave(symbol, task))
        self._leaving.add(leaving)
        leaving.add_done_callback(self._leaving.discard)

    def following(self) -> set[str]:
        """The symbols followed now (tests)."""
        return set(self._tasks)

    def fresh(self, symbol: str, depth: int, max_age_seconds: float) -> OrderBook | None:
        found = self._books.get(symbol)
        if found is None or self._clock() - found[1] > max_age_seconds:
            return None
        book = found[0]
        if len(book.bids) <= depth and len(book.asks) <= depth:
            return book
        return OrderBook(book.symbol, book.bids[:depth], book.asks[:depth], book.at)

    def age(self, symbol: str) -> float | None:
        found = self._books.get(symbol)
        return None if found is None else self._clock() - found[1]

    # --- for the market data feed and the shared books ------------------------------------------

    def watch_all(self, symbols: Iterable[str]) -> None:
        for symbol in symbols:
            self.watch(symbol)

    async def changed(self, wait_seconds: float) -> set[str]:
        """The symbols whose book was updated since the last call, waiting up to
        `wait_seconds` for one (an empty set when none came)."""
        if not self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait_seconds)
        found, self._changed = self._changed, set()
        self._wake.clear()
        return found

    # --- one symbol ----------------------------------------------------------------------------

    async def _follow(self, symbol: str) -> None:
        failures = 0
        while True:
            try:
                raw: Any = await self.client.watch_order_book(symbol, self.snapshot_depth)
            except Exception as error:  # noqa: BLE001 - whatever ends a watch, it starts again
                self._books.pop(symbol, None)
                self.drops += 1
                failures += 1
                wait = self._backoff(failures)
                if failures == 1:
                    log.warning("%s: the %s book stream dropped (%s); its quotes are read over"
                                " REST until it is back", self.name, symbol, error)  # fmt: skip
                await self._sleep(wait)
                continue
            if failures:
                log.info("%s: the %s book stream is back after %d failed watches", self.name,
                         symbol, failures)  # fmt: skip
                failures = 0
            self._books[symbol] = (parsing.order_book(symbol, raw, len(raw["bids"]) or 1),
                                   self._clock())  # fmt: skip
            self.updates += 1
            self._changed.add(symbol)
            self._wake.set()

    async def _leave(self, symbol: str, follower: asyncio.Task[None]) -> None:
        await asyncio.wait({follower})  # cancelled by `unwatch`: its outcome is nobody's
        try:
            await asyncio.wait_for(self.client.un_watch_order_book(symbol), UNSUBSCRIBE_SECONDS)
        except Exception as error:  # noqa: BLE001 - the venue keeps sending what nobody reads
            log.info("%s: the %s book stream not unsubscribed (%s)", self.name, symbol, error)

    def _backoff(self, failures: int) -> float:
        bound = min(self.backoff_seconds * 2.0 ** (failures - 1), self.max_backoff_seconds)
        return max(bound * self._jitter(), self.backoff_seconds / 10)

    async def close(self) -> None:
        tasks = [*self._tasks.values(), *self._leaving]
        self._tasks, self._leaving = {}, set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._books.clear()
        await self.client.close()
