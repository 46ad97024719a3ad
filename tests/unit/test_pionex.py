"""The Pionex adapter's pure parts: its signature, its reading of orders and markets, and its
throttle (the adapter against the venue's fake: tests/integration/test_venue_pionex.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.adapters.pionex.http import Throttle, signature, sorted_query
from app.adapters.pionex.parsing import markets, order_status
from app.domain.orders import OrderKind, OrderRequest, OrderState, Side

pytestmark = pytest.mark.anyio
D = Decimal


def test_the_signature_is_the_documented_example() -> None:
    """restful/general/authentication: the documented secret, request and signature."""
    query = sorted_query({"symbol": "BTC_USDT", "limit": 1, "timestamp": 1655896754515})
    assert query == "limit=1&symbol=BTC_USDT&timestamp=1655896754515"
    signed = signature("NFqv4MB3hB0SOiEsJNDP9e0jDdKPWbDqS_Z1dbU4", "GET",
                       "/api/v1/trade/allOrders", query, '{"symbol": "BTC_USDT"}')  # fmt: skip
    assert signed == "ec83d21e1237cbe7e0172f79c0e3a4741c86f6b201ba762f21149bf195519be1"


def test_a_symbol_is_read_as_a_market_with_its_steps_and_minimums() -> None:
    """common/market-data's example: basePrecision counts a size's decimals, quotePrecision a
    price's; minAmount is the least value, minTradeDumping the least market sell."""
    found = markets([
        {"symbol": "BTC_USDT", "type": "SPOT", "baseCurrency": "BTC", "quoteCurrency": "USDT",
         "basePrecision": 6, "quotePrecision": 2, "amountPrecision": 8, "minAmount": "10",
         "minTradeSize": "0.000001", "maxTradeSize": "1000", "minTradeDumping": "0.00001",
         "maxTradeDumping": "100", "enable": True, "buyCeiling": "1.1", "sellFloor": "0.9"},
        {"symbol": "BTC_USDT_PERP", "type": "PERP", "baseCurrency": "BTC",
         "quoteCurrency": "USDT", "basePrecision": 4, "quotePrecision": 1},
    ])  # fmt: skip
    assert list(found) == ["BTC/USDT"]
    spec = found["BTC/USDT"]
    assert (spec.id, spec.amount_digits) == ("BTC_USDT", 8)
    market = spec.market
    assert (market.amount_step, market.price_step) == (D("0.000001"), D("0.01"))
    assert (market.min_amount, market.min_cost) == (D("0.00001"), D(10))


def order(**fields: object) -> dict[str, object]:
    """get-order's documented example, with `fields` changed."""
    raw: dict[str, object] = {
        "orderId": 1234567890, "symbol": "BTC_USDT", "type": "LIMIT", "side": "SELL",
        "price": "30000.00", "size": "0.1000", "filledSize": "0.0500",
        "filledAmount": "1500.00", "fee": "0.15", "feeCoin": "USDT", "status": "OPEN",
        "IOC": False, "clientOrderId": "9e3d93d6-e9a4-465a-a39c-2e48568fe194",
        "source": "API", "createTime": 1566676132311, "updateTime": 1566676132311,
    }  # fmt: skip
    raw.update(fields)
    return raw


MARKET_BUY_CLOSED = {"status": "CLOSED", "type": "MARKET", "side": "BUY", "size": "",
                     "amount": "3000", "filledSize": "0.1"}  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({}, OrderState.PARTIALLY_FILLED),
        ({"filledSize": "0", "filledAmount": "0"}, OrderState.ACCEPTED),
        ({"status": "CLOSED", "filledSize": "0.1000"}, OrderState.FILLED),
        ({"status": "CLOSED"}, OrderState.CANCELLED),  # closed short of its size
        (MARKET_BUY_CLOSED, OrderState.FILLED),  # sized by its amount: no size
        ({"status": "CLOSED", "type": "MARKET", "filledSize": "0"}, OrderState.CANCELLED),
        ({"status": "NEW"}, OrderState.UNKNOWN),
    ],
)
def test_an_order_state_is_read_from_its_status_and_fills(
    fields: dict[str, object], state: OrderState
) -> None:
    assert order_status(order(**fields), "BTC/USDT").state is state


def test_an_order_is_read_in_the_port_types() -> None:
    status = order_status(order(), "BTC/USDT")
    assert (status.order_id, status.client_order_id, status.symbol) == (
        "1234567890", "9e3d93d6-e9a4-465a-a39c-2e48568fe194", "BTC/USDT",
    )  # fmt: skip
    assert (status.side, status.kind, status.amount, status.filled) == (
        Side.SELL, OrderKind.LIMIT, D("0.1000"), D("0.0500"),
    )  # fmt: skip
    assert (status.average_price, status.fee, status.fee_currency) == (D(30000), D("0.15"), "USDT")


def test_a_market_buy_keeps_the_coins_asked_for_not_its_quote_amount() -> None:
    request = OrderRequest("sg1", "BTC/USDT", Side.BUY, OrderKind.MARKET, D("0.1"))
    raw = order(type="MARKET", side="BUY", status="CLOSED", price="", amount="3000",
                filledSize="0.1", filledAmount="3000")  # fmt: skip
    del raw["size"]
    status = order_status(raw, "BTC/USDT", request)
    assert (status.amount, status.filled, status.state) == (D("0.1"), D("0.1"), OrderState.FILLED)
    assert status.price is None


async def test_the_throttle_keeps_to_ten_weight_a_second() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    throttle = Throttle(10, lambda: now[0], sleep)
    await throttle.take(5)
    await throttle.take(5)  # the bucket holds 10: no wait yet
    assert waits == []
    await throttle.take(5)  # weight 5 of open orders: half a second's worth
    assert waits == [pytest.approx(0.5)]
    now[0] += 10  # a quiet while refills the bucket, not beyond its size
    await throttle.take(10)
    assert waits == [pytest.approx(0.5)]


async def test_a_weight_above_a_seconds_worth_goes_on_a_full_bucket_and_the_next_waits() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    throttle = Throttle(2, lambda: now[0], sleep)
    await throttle.take(5)  # a full bucket of 2 lets it go, 3 owed
    assert waits == []
    await throttle.take(1)  # the 3 owed and its own 1, at 2 a second
    assert waits == [pytest.approx(2.0)]
