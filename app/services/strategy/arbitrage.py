"""The arbitrage strategy: venues' order books in, linked signals out through the intake.

Every `interval_seconds`, it reads the books of its symbols on every venue (and, for triangles,
of every pair of a cycle from `triangle_start`), finds the best direct and triangular
opportunities net of taker fees and depth (app.domain.arbitrage), and submits each as a unit
of linked signals -- the same threshold, dedupe, risk gate and routing as any signal, executed
all legs or none. An opportunity is submitted once per `cooldown_seconds` while it lasts. A
venue that cannot be read is left out of that round (and logged); the loop never stops on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal

import msgspec

from app.domain.arbitrage import (
    MIN_PROFIT,
    Opportunity,
    VenueBook,
    best_triangular,
    direct_arbitrage,
    triangles,
    unit_signals,
)
from app.domain.market import Market, OrderBook
from app.ports.errors import ExchangeError
from app.ports.exchange import Exchange
from app.services.strategy.engine import Submit

log = logging.getLogger("signalgate.strategy")


class ArbitrageParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`STRATEGY_SETTINGS={"arbitrage": {...}}`."""

    symbols: tuple[str, ...] = ()  # direct arbitrage on these (default: the feed's symbols)
    notional: Decimal = Decimal(100)  # quote currency put in per opportunity
    min_profit: Decimal = MIN_PROFIT  # a fraction: 0.002 is 0.2% net of fees
    triangle_start: str | None = None  # e.g. "USDT": triangles from it on every venue
    interval_seconds: float = 1.0
    cooldown_seconds: float = 10.0
    depth: int = 20


class ArbitrageScanner:
    name = "arbitrage"

    def __init__(
        self,
        venues: Mapping[str, Exchange],
        params: ArbitrageParams,
        submit: Submit,
        *,
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
    ) -> None:
        self._venues = venues
        self._params = params
        self._submit = submit
        self._now = clock
        self._new_id = new_id
        self._last: dict[tuple[object, ...], float] = {}  # opportunity -> when submitted
        self.submitted: dict[str, int] = {}  # outcome -> count, for the logs and tests

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.scan_once()
            except Exception:  # a round that fails must not end the strategy process
                log.exception("arbitrage: a scan failed; scanning again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._params.interval_seconds)

    async def scan_once(self) -> list[Opportunity]:
        """One round: the opportunities found, each submitted unless in its cooldown."""
        markets = await self._markets()
        found = [o for s in self._params.symbols if (o := await self._direct(s, markets))]
        if self._params.triangle_start is not None:
            for venue, listed in markets.items():
                if (triangle := await self._triangle(venue, listed)) is not None:
                    found.append(triangle)
        for opportunity in found:
            await self._submit_unit(opportunity)
        return found

    async def _markets(self) -> dict[str, dict[str, Market]]:
        markets = {}
        for name, venue in self._venues.items():
            try:
                markets[name] = await venue.markets()
            except ExchangeError as error:
                log.info("arbitrage: venue %s unreadable: %s", name, error)
        return markets

    async def _books(self, venue: str, symbols: list[str]) -> dict[str, OrderBook]:
        exchange = self._venues[venue]
        read = await asyncio.gather(
            *(exchange.order_book(s, self._params.depth) for s in symbols), return_exceptions=True
        )
        books = {}
        for symbol, book in zip(symbols, read, strict=True):
            if isinstance(book, OrderBook):
                books[symbol] = book
            elif isinstance(book, ExchangeError):
                log.info("arbitrage: %s %s unreadable: %s", venue, symbol, book)
            elif isinstance(book, BaseException):
                raise book
        return books

    async def _direct(
        self, symbol: str, markets: Mapping[str, Mapping[str, Market]]
    ) -> Opportunity | None:
        listing = {name: m[symbol] for name, m in markets.items() if symbol in m}
        if len(listing) < 2:
            return None
        books = []
        for name, market in listing.items():
            book = (await self._books(name, [symbol])).get(symbol)
            if book is not None:
                books.append(VenueBook(name, book, market.taker_fee, market.quote))
        asks = [b.book.best_ask for b in books if b.book.best_ask]
        if len(books) < 2 or not asks:
            return None
        step = max(listing[b.venue].amount_step for b in books)
        amount = (self._params.notional / min(asks)).quantize(step, rounding="ROUND_DOWN")
        if amount <= 0:
            return None
        return direct_arbitrage(books, amount, min_profit=self._params.min_profit)

    async def _triangle(self, venue: str, listed: Mapping[str, Market]) -> Opportunity | None:
        start = self._params.triangle_start
        assert start is not None
        symbols = sorted(
            {s for path in triangles(listed, start) for s in listed if _joins(listed[s], path)}
        )
        if not symbols:
            return None
        books = await self._books(venue, symbols)
        return best_triangular(
            venue, start, listed, books, self._params.notional, min_profit=self._params.min_profit
        )

    async def _submit_unit(self, opportunity: Opportunity) -> None:
        key = tuple((leg.venue, leg.symbol, leg.side) for leg in opportunity.legs)
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self._params.cooldown_seconds:
            return
        self._last[key] = now
        unit_id = self._new_id()
        for signal in unit_signals(
            opportunity, unit_id, self._now(), min_profit=self._params.min_profit
        ):
            outcome = await self._submit(signal)
            self.submitted[outcome] = self.submitted.get(outcome, 0) + 1
        log.info("arbitrage: unit %s submitted: %s", unit_id, opportunity.kind)


def _joins(market: Market, path: tuple[str, str, str]) -> bool:
    """Whether the market trades two currencies of the cycle."""
    return market.base in path and market.quote in path
