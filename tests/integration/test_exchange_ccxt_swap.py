"""`CcxtExchange` on perpetual swaps: real, unmodified ccxt `binanceusdm` against the local fake."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.ccxt.profiles import ScanOrders
from app.domain.market import MarketKind
from app.domain.orders import OrderKind, OrderRequest, OrderState, Side
from app.ports.errors import InsufficientFunds, InvalidOrder, OutcomeUnknown
from tests.fake_binance import RunningFake, serve_fake_binance
from tests.fake_binance_usdm import FakeBinanceUsdm
from tests.integration.test_exchange_ccxt import binance

pytestmark = pytest.mark.anyio

BTC = "BTC/USDT:USDT"
ORDER = "/fapi/v1/order"


@pytest.fixture
def fake() -> Iterator[RunningFake]:
    with serve_fake_binance(FakeBinanceUsdm()) as running:
        yield running


def venue(fake: RunningFake) -> FakeBinanceUsdm:
    assert isinstance(fake.venue, FakeBinanceUsdm)
    return fake.venue


def usdm(fake: RunningFake, **overrides: Any) -> AbstractAsyncContextManager[CcxtExchange]:
    return binance(fake, "binanceusdm", **overrides)


def market(cid: str, side: Side, amount: str, *, reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(
        cid, BTC, side, OrderKind.MARKET, Decimal(amount), reduce_only=reduce_only
    )  # fmt: skip


async def test_perpetual_markets_are_swaps_settled_in_usdt(fake: RunningFake) -> None:
    async with usdm(fake) as exchange:
        markets = await exchange.markets()

    assert list(markets) == [BTC]
    btc = markets[BTC]
    assert (btc.kind, btc.settle, btc.base, btc.quote) == (MarketKind.SWAP, "USDT", "BTC", "USDT")
    assert (btc.amount_step, btc.min_amount, btc.price_step) == (
        Decimal("0.001"), Decimal("0.001"), Decimal("0.1")
    )  # fmt: skip
    assert exchange.capabilities.reduce_only
    assert not exchange.capabilities.spot_locks_resting_sells


async def test_a_position_is_opened_with_leverage_seen_and_closed_reduce_only(
    fake: RunningFake,
) -> None:
    async with usdm(fake) as exchange:
        await exchange.set_leverage(BTC, Decimal(10))
        opened = await exchange.create_order(market("sg-open-1", Side.BUY, "0.02"))
        [position] = await exchange.positions()
        by_symbol = await exchange.positions([BTC])
        balances = await exchange.balances()
        closed = await exchange.create_order(
            market("sg-close-1", Side.SELL, "0.02", reduce_only=True)
        )
        after = await exchange.positions()

    assert venue(fake).positions["BTCUSDT"].leverage == 10
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
    sent = venue(fake).futures_orders_with_client_id("sg-close-1")[0]
    assert sent["reduceOnly"] is True
    assert venue(fake).wallet == Decimal(10000) - Decimal("0.4")  # bought 50,010, sold 49,990


async def test_a_short_position_has_a_negative_amount(fake: RunningFake) -> None:
    async with usdm(fake) as exchange:
        await exchange.create_order(market("sg-short-1", Side.SELL, "0.005"))
        [position] = await exchange.positions()

    assert position.amount == Decimal("-0.005")
    assert position.entry_price == Decimal(49990)


async def test_a_reduce_only_order_larger_than_the_position_is_refused_with_the_venue_message(
    fake: RunningFake,
) -> None:
    async with usdm(fake) as exchange:
        await exchange.create_order(market("sg-open-2", Side.BUY, "0.01"))
        with pytest.raises(InvalidOrder, match="ReduceOnly Order is rejected"):
            await exchange.create_order(market("sg-close-2", Side.SELL, "0.02", reduce_only=True))
        [position] = await exchange.positions()

    assert position.amount == Decimal("0.01")  # untouched
    assert venue(fake).futures_orders_with_client_id("sg-close-2") == []


async def test_margin_shortfall_is_insufficient_funds(fake: RunningFake) -> None:
    async with usdm(fake) as exchange:
        await exchange.set_leverage(BTC, Decimal(1))
        with pytest.raises(InsufficientFunds, match="Margin is insufficient"):
            await exchange.create_order(market("sg-huge", Side.BUY, "1"))


@pytest.mark.parametrize("leverage", [Decimal(0), Decimal(500)])
async def test_a_leverage_the_venue_refuses_is_an_invalid_order(
    fake: RunningFake, leverage: Decimal
) -> None:
    async with usdm(fake) as exchange:
        with pytest.raises(InvalidOrder):
            await exchange.set_leverage(BTC, leverage)

    assert venue(fake).positions["BTCUSDT"].leverage == 20


async def test_leverage_on_a_spot_market_is_an_invalid_order(fake: RunningFake) -> None:
    async with binance(fake) as spot:
        with pytest.raises(InvalidOrder, match="spot market"):
            await spot.set_leverage("BTC/USDT", Decimal(5))
        assert await spot.positions() == []

    assert venue(fake).count("POST", "/fapi/v1/leverage") == 0


async def test_a_lost_create_is_found_by_client_order_id_and_not_placed_twice(
    fake: RunningFake,
) -> None:
    async with usdm(fake) as exchange:
        await exchange.markets()
        venue(fake).fail_next("POST", ORDER, "create_then_hang")
        status = await exchange.create_order(market("sg-lost-1", Side.BUY, "0.01"))
        [position] = await exchange.positions()

    orders = venue(fake).futures_orders_with_client_id("sg-lost-1")
    assert len(orders) == 1
    assert status.order_id == str(orders[0]["orderId"])
    assert status.state is OrderState.FILLED
    assert position.amount == Decimal("0.01")  # one position's worth, not two
    assert venue(fake).count("POST", ORDER) == 1


async def test_a_create_the_venue_never_got_is_sent_once_more_after_its_expiry(
    fake: RunningFake,
) -> None:
    async with usdm(fake) as exchange:
        await exchange.markets()
        venue(fake).fail_next("POST", ORDER, "hang")
        status = await exchange.create_order(market("sg-lost-2", Side.BUY, "0.01"))

    assert len(venue(fake).futures_orders_with_client_id("sg-lost-2")) == 1
    assert status.state is OrderState.FILLED
    assert venue(fake).count("POST", ORDER) == 2
    assert venue(fake).count("GET", ORDER) == 2


async def test_a_resting_duplicate_client_id_is_refused_and_then_found(fake: RunningFake) -> None:
    resting = OrderRequest(
        "sg-rest-1", BTC, Side.BUY, OrderKind.LIMIT, Decimal("0.01"), price=Decimal(40000)
    )
    async with usdm(fake) as exchange:
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
    fake: RunningFake, fault: str
) -> None:
    async with usdm(fake) as exchange:
        exchange.profile = msgspec.structs.replace(
            exchange.profile, lookup=ScanOrders("fetch_orders")
        )
        await exchange.markets()
        venue(fake).fail_next("POST", ORDER, fault)
        status = await exchange.create_order(market("sg-scan-1", Side.BUY, "0.01"))
        found = await exchange.fetch_order_by_client_id(BTC, "sg-scan-1")
        missing = await exchange.fetch_order_by_client_id(BTC, "sg-nobody")

    [order] = venue(fake).futures_orders_with_client_id("sg-scan-1")
    assert found is not None
    assert status.order_id == found.order_id == str(order["orderId"])
    assert missing is None
    assert venue(fake).count("GET", ORDER) == 0  # never asked by client id
    assert venue(fake).count("GET", "/fapi/v1/allOrders") >= 2
    assert venue(fake).count("POST", ORDER) == (1 if fault == "create_then_hang" else 2)


async def test_without_a_request_expiry_a_lost_create_is_never_sent_again(
    fake: RunningFake,
) -> None:
    async with usdm(fake) as exchange:
        exchange.profile = msgspec.structs.replace(exchange.profile, expiry=None)
        await exchange.markets()
        venue(fake).fail_next("POST", ORDER, "hang")
        with pytest.raises(OutcomeUnknown, match="do not expire"):
            await exchange.create_order(market("sg-noexp-1", Side.BUY, "0.01"))

    assert venue(fake).count("POST", ORDER) == 1
    assert venue(fake).futures_orders_with_client_id("sg-noexp-1") == []
