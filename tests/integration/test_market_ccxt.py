"""`CcxtMarketData` through real, unmodified ccxt against the local fake Binance."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.adapters.ccxt.market import CcxtMarketData
from app.domain.market import Level, Tick
from app.ports.errors import Fatal
from tests.fake_binance import RunningFake

pytestmark = pytest.mark.anyio

DEPTH = "/api/v3/depth"
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


class Sleeps:
    """Records the waits and lets other tasks run, without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


@asynccontextmanager
async def market_data(
    fake: RunningFake, symbols: list[str], sleep: Sleeps, **overrides: Any
) -> AsyncIterator[CcxtMarketData]:
    settings: dict[str, Any] = {
        "interval": 0.05,
        "depth": 5,
        "base_url": fake.url,
        "timeout_ms": 1000,
        "rate_limit_ms": 1,
        "backoff_seconds": 0.01,
        "max_backoff_seconds": 0.04,
        "sleep": sleep,
        "now": lambda: NOW,
    } | overrides
    source = CcxtMarketData("binance", symbols, **settings)
    try:
        yield source
    finally:
        await source.close()


async def take(source: CcxtMarketData, count: int) -> list[Tick]:
    ticks: list[Tick] = []
    async with aclosing(source.ticks()) as stream:  # type: ignore[type-var]
        async for tick in stream:
            ticks.append(tick)
            if len(ticks) == count:
                break
    return ticks


def book_side(start: str, step: str) -> tuple[Level, ...]:
    return tuple(Level(Decimal(start) + i * Decimal(step), Decimal(1)) for i in range(5))


async def test_books_and_ticks_for_two_symbols_match_the_venue(fake: RunningFake) -> None:
    sleep = Sleeps()
    async with market_data(fake, ["BTC/USDT", "ETH/USDT"], sleep) as source:
        assert source.order_book("BTC/USDT") is None  # before the first poll
        assert source.order_book("ETH/USDT") is None
        ticks = await take(source, 4)
        btc = source.order_book("BTC/USDT")
        eth = source.order_book("ETH/USDT")
        top = source.order_book("BTC/USDT", depth=2)

    assert [t.symbol for t in ticks] == ["BTC/USDT", "ETH/USDT"] * 2
    assert ticks[0] == Tick("BTC/USDT", NOW, Decimal(50000), bid=Decimal(49990), ask=Decimal(50010))
    assert ticks[1] == Tick("ETH/USDT", NOW, Decimal(3000), bid=Decimal(2999), ask=Decimal(3001))
    assert btc is not None
    assert eth is not None
    assert top is not None
    assert btc.bids == book_side("49990", "-0.1")
    assert btc.asks == book_side("50010", "0.1")
    assert eth.bids == book_side("2999", "-0.1")
    assert eth.asks == book_side("3001", "0.1")
    assert (btc.at, btc.mid) == (NOW, Decimal(50000))
    assert top.bids == btc.bids[:2]
    assert top.asks == btc.asks[:2]
    assert fake.venue.count("GET", DEPTH) == 4
    assert len(sleep.waits) == 1
    assert 0 <= sleep.waits[0] <= 0.05


async def test_the_ticker_gives_the_last_price_and_volume(fake: RunningFake) -> None:
    fake.venue.last_prices["BTCUSDT"] = "50003.25"
    async with market_data(fake, ["BTC/USDT"], Sleeps(), with_ticker=True) as source:
        [tick] = await take(source, 1)

    assert tick.price == Decimal("50003.25")
    assert (tick.bid, tick.ask) == (Decimal(49990), Decimal(50010))
    assert tick.volume == Decimal("123.45")
    assert tick.at != NOW  # the ticker's time (the book has none)


async def test_a_burst_of_503s_and_429s_is_ridden_out(
    fake: RunningFake, caplog: pytest.LogCaptureFixture
) -> None:
    sleep = Sleeps()
    async with market_data(fake, ["BTC/USDT", "ETH/USDT"], sleep) as source:
        first = await take(source, 2)
        fake.venue.fail_next("GET", DEPTH, "503", 3)
        fake.venue.fail_next("GET", DEPTH, "429", 2)
        with caplog.at_level(logging.INFO, logger="app.adapters.ccxt.market"):
            after = await take(source, 4)

    assert [t.symbol for t in first] == ["BTC/USDT", "ETH/USDT"]
    assert [t.symbol for t in after] == ["BTC/USDT", "ETH/USDT"] * 2
    assert all(t.price in (Decimal(50000), Decimal(3000)) for t in after)
    assert fake.venue.count("GET", DEPTH) == 2 + 5 + 4
    backoffs = [w for w in sleep.waits if w in (0.01, 0.02, 0.04)]
    assert backoffs == [0.01, 0.02, 0.04, 0.04, 0.04]  # doubled up to the cap
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2  # one at the start of the outage, one at its end
    assert "unavailable" in lines[0]
    assert "back after 5 failed polls" in lines[1]


async def test_an_unknown_symbol_is_raised(fake: RunningFake) -> None:
    async with market_data(fake, ["DOGE/USDT"], Sleeps()) as source:
        with pytest.raises(Fatal):
            await take(source, 1)
        assert source.order_book("DOGE/USDT") is None
