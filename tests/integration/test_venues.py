"""Venues built from settings: paper venues side by side, kept across a restart; a ccxt venue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy

from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.sql.db import make_engine
from app.bootstrap.venues import VenueSetupError, build_market_data, build_venues
from app.config.settings import load_settings
from app.domain.orders import OrderKind, OrderRequest, OrderState, Side
from app.ports.exchange import MarketData
from tests.fake_binance import API_KEY, API_SECRET, serve_fake_binance

pytestmark = pytest.mark.anyio
NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
TWO_PAPER_VENUES = {
    "VENUES": "paper,paper_cheap",
    "PAPER_CHEAP_FEE": "0.0005",
    "PAPER_CHEAP_PRICE_OFFSET_BPS": "-3",
    "SYMBOLS": "BTC/USDT",
}


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[sqlalchemy.Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


async def started(feed: MarketData) -> MarketData:
    async for _ in feed.ticks():
        break
    return feed


def buy(client_id: str) -> OrderRequest:
    return OrderRequest(client_id, "BTC/USDT", Side.BUY, OrderKind.MARKET, Decimal("0.01"))


async def test_paper_venues_differ_in_price_and_fee_and_survive_a_restart(engine):
    settings = load_settings(TWO_PAPER_VENUES)
    feed = await started(build_market_data(settings, now=NOW, paced=False))
    venues = build_venues(settings, engine=engine, market_data=feed, clock=lambda: NOW)
    fills = {name: await venue.create_order(buy(f"sg-{name}")) for name, venue in venues.items()}
    plain, cheap = fills["paper"], fills["paper_cheap"]
    assert plain.state is cheap.state is OrderState.FILLED
    assert cheap.average_price < plain.average_price
    ratio = cheap.average_price / plain.average_price
    assert Decimal("0.9996") < ratio < Decimal("0.9998")  # 3 bps lower
    assert cheap.fee / plain.fee < Decimal("0.51")  # half the fee rate, a lower price
    balances = {name: (await v.balances())["USDT"].free for name, v in venues.items()}

    again = build_venues(settings, engine=engine, market_data=feed, clock=lambda: NOW)
    assert {name: (await v.balances())["USDT"].free for name, v in again.items()} == balances
    assert (await again["paper"].fetch_order_by_client_id("BTC/USDT", "sg-paper")) == plain


async def test_a_testnet_ccxt_venue_trades_through_its_url_override(engine):
    with serve_fake_binance() as fake:
        settings = load_settings(
            {
                "TRADING_MODE": "testnet",
                "VENUES": "binance",
                "BINANCE_MODE": "testnet",
                "BINANCE_API_KEY": API_KEY,
                "BINANCE_API_SECRET": API_SECRET,
                "BINANCE_API_URL": fake.url,
            }
        )
        feed = build_market_data(settings, now=NOW, paced=False)
        venues = build_venues(settings, engine=engine, market_data=feed, clock=lambda: NOW)
        binance = venues["binance"]
        assert isinstance(binance, CcxtExchange)
        assert binance.mode == "testnet"
        try:
            placed = await binance.create_order(buy("sg-binance-1"))
            assert placed.state is OrderState.FILLED
            found = await binance.fetch_order_by_client_id("BTC/USDT", "sg-binance-1")
            assert found is not None
            assert found.order_id == placed.order_id
        finally:
            await binance.close()


async def test_a_ccxt_venue_without_a_profile_is_refused_with_what_to_do(engine):
    settings = load_settings(
        {
            "TRADING_MODE": "testnet",
            "VENUES": "bitfinex",
            "BITFINEX_MODE": "testnet",
            "BITFINEX_API_KEY": "k",
            "BITFINEX_API_SECRET": "s",
        }
    )
    feed = build_market_data(settings, now=NOW, paced=False)
    with pytest.raises(VenueSetupError, match="BITFINEX_EXCHANGE='bitfinex' has no venue profile"):
        build_venues(settings, engine=engine, market_data=feed, clock=lambda: NOW)


def gate_settings(**extra: str) -> dict[str, str]:
    return {
        "TRADING_MODE": "testnet",
        "VENUES": "gate",
        "GATE_MODE": "testnet",
        "GATE_API_KEY": "k",
        "GATE_API_SECRET": "s",
        **extra,
    }


async def test_a_venue_no_road_test_proves_is_refused_at_start_with_the_way_out(engine):
    settings = load_settings(gate_settings())
    feed = build_market_data(settings, now=NOW, paced=False)
    with pytest.raises(VenueSetupError) as refused:
        build_venues(settings, engine=engine, market_data=feed, clock=lambda: NOW)
    assert str(refused.value) == (
        "GATE_EXCHANGE=gate is not proven: no road test trades it through ccxt against a"
        " faithful fake of the venue yet; set GATE_UNPROVEN=accept to trade it anyway at your"
        " own risk."
    )


async def test_an_unproven_venue_accepted_explicitly_starts_with_a_warning(engine, caplog):
    settings = load_settings(gate_settings(GATE_UNPROVEN="accept"))
    feed = build_market_data(settings, now=NOW, paced=False)
    venues = build_venues(settings, engine=engine, market_data=feed, clock=lambda: NOW)
    try:
        assert isinstance(venues["gate"], CcxtExchange)
        (warning,) = [r for r in caplog.records if "not proven" in r.getMessage()]
        assert warning.levelname == "WARNING"
        assert "GATE_UNPROVEN=accept" in warning.getMessage()
    finally:
        await venues["gate"].close()
