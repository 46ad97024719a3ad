"""`CcxtExchange` on perpetual swaps: real, unmodified ccxt `binanceusdm` against the local fake
(tests/venues/binance_usdm.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.ccxt.profiles import ScanOrders
from app.domain.market import MarketKind
from app.domain.orders import OrderKind, OrderRequest, OrderState, Side
from app.ports.errors import InsufficientFunds, InvalidOrder, OutcomeUnknown
from tests.integration.test_exchange_ccxt import FAST
from tests.venues.binance import API_KEY, API_SECRET, BinanceDialect, spot
from tests.venues.binance_usdm import BinanceUsdm, usdm
from tests.venues.http import Served, serve

pytestmark = pytest.mark.anyio

BTC = "BTC/USDT:USDT"
ORDER = "/fapi/v1/order"


@pytest.fixture
def fake() -> Iterator[Served[BinanceUsdm]]:
    with serve(usdm()) as running:
        yield running


def sent(venue: BinanceDialect, method: str, path: str) -> int:
    with venue.lock:
        return venue.requests.count((method, path))


@asynccontextmanager
async def adapter(
    fake: Served[Any], exchange_id: str = "binanceusdm", **overrides: Any
) -> AsyncIterator[CcxtExchange]:
    """The ccxt adapter on the fake, quick to give up (tests wait less)."""
    settings: dict[str, Any] = {
        "mode": "testnet", "api_key": API_KEY, "secret": API_SECRET, "base_url": fake.url,
        "timeout_ms": 500, "retry": FAST, "options": {"recvWindow": 300},
    } | overrides  # fmt: skip
    exchange = CcxtExchange(exchange_id, **settings)
    try:
        yield exchange
    finally:
        await exchange.close()


def market(cid: str, side: Side, amount: str, *, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(
        cid, BTC, side, OrderKind.MARKET, Decimal(amount), reduce_only=reduce_only
    )  # fmt: skip


async def test_perpetual_markets_are_swaps_settled_in_usdt(fake: Served[BinanceUsdm]) -> None:
    async with adapter(fake) as exchange:
        markets = await exchange.markets()

    assert list(markets) == [BTC]
    btc = markets[BTC]
    assert (btc.kind, btc.settle, btc.base, btc.quote) == (MarketKind.SWAP, "USDT", "BTC", "USDT")
    assert (btc.amount_step, btc.min_amount, btc.price_step, btc.min_cost) == (
        Decimal("0.001"), Decimal("0.001"), Decimal("0.1"), Decimal(100)
    )  # fmt: skip
    assert btc.contract_size == 1
    assert exchange.capabilities.reduce_only
    assert not exchange.capabilities.spot_locks_resting_sells


async def test_a_position_is_opened_with_leverage_seen_and_closed_reduce_only(
    fake: Served[BinanceUsdm],
) -> None:
    async with adapter(fake) as exchange:
        await exchange.set_leverage(BTC, Decimal(10))
        opened = await exchange.create_order(market("sg-open-1", Side.BUY, "0.02"))
        [position] = await exchange.positions()
        by_symbol = await exchange.positions([BTC])
        balances = await exchange.balances()
        closed = await exchange.create_order(
            market("sg-close-1", Side.SELL, "0.02", reduce_only=True)
        )
        after = await exchange.positions()

    venue = fake.venue
    assert venue.leverage["BTCUSDT"] == 10
    assert opened.state is OrderState.FILLED
    assert position.symbol == BTC
    assert position.amount == Decimal("0.02")
    assert position.entry_price == Decimal(50010)
    assert position.mark_price == Decimal(50000)
    assert position.unrealized_pnl == Decimal("-0.2")
    assert position.liquidation_price is not None
    assert by_symbol == [position]
    assert balances["USDT"].used == Decimal(100)  # 0.02 x 50,000 / 10: the initial margin
    assert closed.state is OrderState.FILLED
    assert closed.reduce_only
    assert after == []  # a flat position is dropped
    [sent_close] = venue.with_client_id("sg-close-1")
    assert sent_close.reduce_only
    # bought at 50,010, sold at 49,990, 0.05% taker fee on each side
    assert venue.held("USDT") == Decimal(10000) - Decimal("0.4") - Decimal("1.0")


async def test_a_short_position_has_a_negative_amount(fake: Served[BinanceUsdm]) -> None:
    async with adapter(fake) as exchange:
        await exchange.create_order(market("sg-short-1", Side.SELL, "0.005"))
        [position] = await exchange.positions()

    assert position.amount == Decimal("-0.005")
    assert position.entry_price == Decimal(49990)


async def test_a_reduce_only_order_larger_than_the_position_is_refused_with_the_venue_message(
    fake: Served[BinanceUsdm],
) -> None:
    async with adapter(fake) as exchange:
        await exchange.create_order(market("sg-open-2", Side.BUY, "0.01"))
        with pytest.raises(InvalidOrder, match="ReduceOnly Order is rejected"):
            await exchange.create_order(market("sg-close-2", Side.SELL, "0.02", reduce_only=True))
        [position] = await exchange.positions()

    assert position.amount == Decimal("0.01")  # untouched
    assert fake.venue.with_client_id("sg-close-2") == []


async def test_margin_shortfall_is_insufficient_funds(fake: Served[BinanceUsdm]) -> None:
    async with adapter(fake) as exchange:
        await exchange.set_leverage(BTC, Decimal(1))
        with pytest.raises(InsufficientFunds, match="Margin is insufficient"):
            await exchange.create_order(market("sg-huge", Side.BUY, "1"))


@pytest.mark.parametrize("leverage", [Decimal(0), Decimal(500)])
async def test_a_leverage_the_venue_refuses_is_an_invalid_order(
    fake: Served[BinanceUsdm], leverage: Decimal
) -> None:
    async with adapter(fake) as exchange:
        with pytest.raises(InvalidOrder):
            await exchange.set_leverage(BTC, leverage)

    assert fake.venue.leverage["BTCUSDT"] == 20  # Binance's default, untouched


async def test_leverage_on_a_spot_market_is_an_invalid_order() -> None:
    with serve(spot()) as running:
        async with adapter(running, "binance") as exchange:
            with pytest.raises(InvalidOrder, match="spot market"):
                await exchange.set_leverage("BTC/USDT", Decimal(5))
            assert await exchange.positions() == []

        assert [path for _, path in running.venue.requests if "leverage" in path] == []


async def test_a_lost_create_is_found_by_client_order_id_and_not_placed_twice(
    fake: Served[BinanceUsdm],
) -> None:
    async with adapter(fake) as exchange:
        await exchange.markets()
        fake.venue.fail_next("create", "create_then_hang")
        status = await exchange.create_order(market("sg-lost-1", Side.BUY, "0.01"))
        [position] = await exchange.positions()

    [order] = fake.venue.with_client_id("sg-lost-1")
    assert status.order_id == order.id
    assert status.state is OrderState.FILLED
    assert position.amount == Decimal("0.01")  # one position's worth, not two
    assert sent(fake.venue, "POST", ORDER) == 1


async def test_a_create_the_venue_never_got_is_sent_once_more_after_its_expiry(
    fake: Served[BinanceUsdm],
) -> None:
    async with adapter(fake) as exchange:
        await exchange.markets()
        fake.venue.fail_next("create", "hang")
        status = await exchange.create_order(market("sg-lost-2", Side.BUY, "0.01"))

    assert len(fake.venue.with_client_id("sg-lost-2")) == 1
    assert status.state is OrderState.FILLED
    assert sent(fake.venue, "POST", ORDER) == 2
    assert sent(fake.venue, "GET", ORDER) == 2


async def test_a_resting_duplicate_client_id_is_refused_and_then_found(
    fake: Served[BinanceUsdm],
) -> None:
    resting = OrderRequest(
        "sg-rest-1", BTC, Side.BUY, OrderKind.LIMIT, Decimal("0.01"), price=Decimal(40000)
    )
    async with adapter(fake) as exchange:
        first = await exchange.create_order(resting)
        with pytest.raises(InvalidOrder, match="ClientOrderId is duplicated"):
            await exchange.create_order(resting)
        found = await exchange.fetch_order_by_client_id(BTC, "sg-rest-1")
        cancelled = await exchange.cancel_order(BTC, first.order_id)

    assert first.state is OrderState.ACCEPTED
    assert found == first
    assert cancelled.state is OrderState.CANCELLED


@pytest.mark.parametrize("fault", ["create_then_hang", "hang"])
async def test_a_venue_that_cannot_be_asked_by_client_id_is_scanned_instead(
    fake: Served[BinanceUsdm], fault: str
) -> None:
    async with adapter(fake) as exchange:
        exchange.profile = msgspec.structs.replace(
            exchange.profile, lookup=ScanOrders("fetch_orders")
        )
        await exchange.markets()
        fake.venue.fail_next("create", fault)
        status = await exchange.create_order(market("sg-scan-1", Side.BUY, "0.01"))
        found = await exchange.fetch_order_by_client_id(BTC, "sg-scan-1")
        missing = await exchange.fetch_order_by_client_id(BTC, "sg-nobody")

    [order] = fake.venue.with_client_id("sg-scan-1")
    assert found is not None
    assert status.order_id == found.order_id == order.id
    assert missing is None
    assert sent(fake.venue, "GET", ORDER) == 0  # never asked by client id
    assert sent(fake.venue, "GET", "/fapi/v1/allOrders") >= 2
    assert sent(fake.venue, "POST", ORDER) == (1 if fault == "create_then_hang" else 2)


async def test_without_a_request_expiry_a_lost_create_is_never_sent_again(
    fake: Served[BinanceUsdm],
) -> None:
    async with adapter(fake) as exchange:
        exchange.profile = msgspec.structs.replace(exchange.profile, expiry=None)
        await exchange.markets()
        fake.venue.fail_next("create", "hang")
        with pytest.raises(OutcomeUnknown, match="do not expire"):
            await exchange.create_order(market("sg-noexp-1", Side.BUY, "0.01"))

    assert sent(fake.venue, "POST", ORDER) == 1
    assert fake.venue.with_client_id("sg-noexp-1") == []
