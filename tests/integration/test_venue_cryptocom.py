"""Crypto.com spot beyond the road (tests/integration/test_venue_roads.py): its trigger orders
kept at private/advanced/* (read back and cancelled there by the monitor), its signature and
nonce checks, its duplicate client order id, and ccxt 4.5.90's quirks on this venue (a sell with
`triggerPrice` and no price goes out as a TAKE_PROFIT; `clientOrderId` is dropped), all through
unmodified ccxt against the local fake (tests/venues/cryptocom.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import msgspec
import pytest
from ccxt.base import errors as ccxt_errors

from app.adapters.ccxt.client import ccxt_client
from app.adapters.ccxt.profiles import ROUTE_PARAM, VENUES
from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg, OrderKind, OrderRequest, OrderState, Side
from app.domain.signals import Action, Signal, StopKind, StopLoss, TakeProfit
from app.ports import errors
from tests.venues import core
from tests.venues.cryptocom import API_KEY, ROOT, SECRET, CryptoComSpot
from tests.venues.http import Served, serve
from tests.venues.road import Deployment, deployed
from tests.venues.roads import ROADS

pytestmark = pytest.mark.anyio
D = Decimal
ROAD = next(road for road in ROADS if road.name == "cryptocom")
ADVANCED = ROOT + "private/advanced/"


@pytest.fixture
def served() -> Iterator[Served[CryptoComSpot]]:
    venue = CryptoComSpot(nonce_window_ms=2000)
    venue.balances["BTC"] = [D(1), D(0)]
    with serve(venue) as running:
        yield running


@pytest.fixture
async def ccxt(served: Served[CryptoComSpot]) -> AsyncIterator[Any]:
    """ccxt's cryptocom as signalgate sets it up (routes and all), pointed at the fake."""
    client = ccxt_client("cryptocom", "testnet", VENUES["cryptocom"],
                         credentials={"apiKey": API_KEY, "secret": SECRET},
                         base_url=served.url, timeout_ms=2000)  # fmt: skip
    yield client
    await client.close()


@pytest.fixture
async def plain(served: Served[CryptoComSpot]) -> AsyncIterator[Any]:
    """ccxt's cryptocom untouched but for its URLs: what ccxt alone sends the venue."""
    unrouted = msgspec.structs.replace(VENUES["cryptocom"], conditional_paths={})
    client = ccxt_client("cryptocom", "testnet", unrouted,
                         credentials={"apiKey": API_KEY, "secret": SECRET},
                         base_url=served.url, timeout_ms=2000)  # fmt: skip
    yield client
    await client.close()


@pytest.fixture
async def on(
    served: Served[CryptoComSpot], sqlite_url: str, redis_url: str
) -> AsyncIterator[Deployment]:
    async with deployed(ROAD, served, sqlite_url, redis_url) as deployment:
        yield deployment


def paths(venue: CryptoComSpot, since: int = 0) -> list[str]:
    return [path for _, path in venue.requests[since:]]


async def test_the_monitor_reads_back_and_cancels_the_stop_loss_at_the_advanced_endpoints(
    on: Deployment,
) -> None:
    up, down = on.price("1.04"), on.price("0.96")
    entry = Signal(symbol="BTC/USDT", action=Action.BUY, source="tradingview:native",
                   quantity=ROAD.amount, take_profits=(TakeProfit(price=up),),
                   stop_loss=StopLoss(StopKind.PRICE, down))  # fmt: skip
    signal_id = await on.send(entry)
    (stop,) = on.on_venue(signal_id, Leg.STOP_LOSS)
    assert (stop.extra["type"], stop.extra["advanced"]) == ("STOP_LOSS", True)
    assert stop.status == core.OPEN
    assert ADVANCED + "create-order" in paths(on.venue)
    legs = {o.leg: o for o in on.bracket(signal_id).orders}
    assert legs[Leg.STOP_LOSS].order_id == f"trigger:{stop.id}"  # kept marked for its reads

    before = len(on.venue.requests)
    assert await on.monitor.run_once() == 0
    assert ADVANCED + "get-order-detail" in paths(on.venue, before)

    before = len(on.venue.requests)
    await on.send(Signal(symbol="BTC/USDT", action=Action.CLOSE, source="tradingview:native"))
    assert stop.status == core.CANCELED
    assert ADVANCED + "cancel-order" in paths(on.venue, before)
    assert ROOT + "private/cancel-order" not in paths(on.venue, before)
    assert on.bracket(signal_id).state is BracketState.CLOSED


async def test_the_adapter_lists_trigger_orders_from_both_endpoints(on: Deployment) -> None:
    request = OrderRequest("sg-list-stop", "BTC/USDT", Side.SELL, OrderKind.STOP_MARKET,
                           D("0.01"), trigger_price=D("29000"))  # fmt: skip
    placed = await on.exchange.create_order(request)
    limit = OrderRequest("sg-list-limit", "BTC/USDT", Side.BUY, OrderKind.LIMIT, D("0.01"),
                         price=D("28000"))  # fmt: skip
    await on.exchange.create_order(limit)

    listed = {o.client_order_id: o for o in await on.exchange.open_orders("BTC/USDT")}

    assert set(listed) == {"sg-list-stop", "sg-list-limit"}
    assert listed["sg-list-stop"].order_id == placed.order_id
    assert placed.order_id.startswith("trigger:")
    assert (await on.exchange.fetch_order("BTC/USDT", placed.order_id)).state is OrderState.ACCEPTED
    found = await on.exchange.fetch_order_by_client_id("BTC/USDT", "sg-list-stop")
    assert found is not None
    assert found.order_id == placed.order_id
    cancelled = await on.exchange.cancel_order("BTC/USDT", placed.order_id)
    assert cancelled.client_order_id == "sg-list-stop"
    assert (
        await on.exchange.fetch_order("BTC/USDT", placed.order_id)
    ).state is OrderState.CANCELLED


async def test_ccxt_makes_a_sell_with_trigger_price_a_take_profit_and_stop_loss_price_a_stop(
    ccxt: Any, served: Served[CryptoComSpot]
) -> None:
    """The quirk the profile's `stop_loss_param` answers: below the price, ccxt's `triggerPrice`
    sell is a TAKE_PROFIT, which the venue refuses on that side; `stopLossPrice` rests."""
    route = {ROUTE_PARAM: True}
    with pytest.raises(ccxt_errors.ExchangeError, match="INVALID_REF_PRICE"):
        await ccxt.create_order("BTC/USDT", "market", "sell", 0.01, None,
                                {"triggerPrice": "29000", "client_oid": "tp", **route})  # fmt: skip
    assert served.venue.with_client_id("tp") == []

    await ccxt.create_order("BTC/USDT", "market", "sell", 0.01, None,
                            {"stopLossPrice": "29000", "client_oid": "sl", **route})  # fmt: skip

    (stop,) = served.venue.with_client_id("sl")
    assert (stop.extra["type"], stop.kind, stop.trigger) == ("STOP_LOSS", core.STOP, D(29000))
    served.venue.set_price("BTC_USDT", D("29000.00"), D("29000.02"), D("29000.01"))
    assert stop.status == core.OPEN  # not yet at the trigger
    served.venue.set_price("BTC_USDT", D("28999.98"), D("29000.00"), D("28999.99"))
    assert (stop.status, stop.filled) == (core.FILLED, D("0.01"))  # sold at market


@pytest.mark.parametrize(
    ("side", "kind", "ref", "fires_at"),
    [
        ("sell", "takeProfitPrice", "31000", "31000.00"),  # SELL TAKE_PROFIT above the price
        ("buy", "stopLossPrice", "31000", "31000.00"),  # BUY STOP_LOSS above the price
        ("buy", "takeProfitPrice", "29000", "29000.00"),  # BUY TAKE_PROFIT below the price
    ],
)
async def test_trigger_orders_fire_on_the_side_the_venue_documents(
    ccxt: Any, served: Served[CryptoComSpot], side: str, kind: str, ref: str, fires_at: str
) -> None:
    route = {ROUTE_PARAM: True}
    await ccxt.create_order("BTC/USDT", "market", side, 0.01, None,
                            {kind: ref, "client_oid": "t", **route})  # fmt: skip
    (order,) = served.venue.with_client_id("t")
    assert order.status == core.OPEN
    last = D(fires_at)
    served.venue.set_price("BTC_USDT", last - D("0.01"), last + D("0.01"), last)
    assert order.status == core.FILLED


async def test_a_trigger_order_on_the_wrong_side_is_refused(ccxt: Any) -> None:
    route = {ROUTE_PARAM: True}
    with pytest.raises(ccxt_errors.ExchangeError, match="229"):  # BUY STOP_LOSS below the price
        await ccxt.create_order("BTC/USDT", "market", "buy", 0.01, None,
                                {"stopLossPrice": "29000", **route})  # fmt: skip


async def test_ccxt_alone_sends_trigger_orders_to_the_plain_endpoint_which_refuses_them(
    plain: Any, served: Served[CryptoComSpot]
) -> None:
    """Why the profile routes them: ccxt 4.5.90 still posts STOP_LOSS to private/create-order."""
    with pytest.raises(ccxt_errors.ExchangeError, match="INVALID_ORDTYPE"):
        await plain.create_order("BTC/USDT", "market", "sell", 0.01, None,
                                 {"stopLossPrice": "29000", "client_oid": "sl"})  # fmt: skip
    assert served.venue.requests[-1] == ("POST", ROOT + "private/create-order")
    assert served.venue.with_client_id("sl") == []


async def test_ccxt_drops_client_order_id_so_the_profile_sends_client_oid(
    plain: Any, served: Served[CryptoComSpot]
) -> None:
    await plain.create_order("BTC/USDT", "limit", "buy", 0.01, 28000, {"clientOrderId": "mine"})
    assert served.venue.with_client_id("mine") == []  # the venue used the nonce instead
    await plain.create_order("BTC/USDT", "limit", "buy", 0.01, 28000, {"client_oid": "mine"})
    assert len(served.venue.with_client_id("mine")) == 1


async def test_ccxt_cannot_fetch_an_order_by_client_oid_so_the_profile_scans(
    plain: Any, served: Served[CryptoComSpot]
) -> None:
    """The venue finds an order by client_oid, but ccxt signs the null order_id it sends along
    as "None" where the venue reads "null": the signature is refused."""
    await plain.create_order("BTC/USDT", "limit", "buy", 0.01, 28000, {"client_oid": "mine"})
    with pytest.raises(ccxt_errors.AuthenticationError, match="40101"):
        await plain.fetch_order(None, "BTC/USDT", {"client_oid": "mine"})
    assert [o["clientOrderId"] for o in await plain.fetch_open_orders("BTC/USDT")] == ["mine"]


async def test_a_client_oid_over_36_characters_is_refused(plain: Any) -> None:
    with pytest.raises(ccxt_errors.BadRequest, match="40004"):
        await plain.create_order("BTC/USDT", "limit", "buy", 0.01, 28000, {"client_oid": "x" * 37})


async def test_a_duplicate_client_order_id_is_refused(on: Deployment) -> None:
    request = OrderRequest("sg-dup", "BTC/USDT", Side.BUY, OrderKind.LIMIT, D("0.01"),
                           price=D("28000"))  # fmt: skip
    await on.exchange.create_order(request)

    with pytest.raises(errors.ExchangeError, match="DUPLICATE_CLORDID"):
        await on.exchange.create_order(request)
    assert len(on.venue.with_client_id("sg-dup")) == 1


@pytest.mark.parametrize(("secret", "shift_ms", "error", "code"), [
    ("not-the-secret", 0, ccxt_errors.AuthenticationError, "40101"),
    (SECRET, -5000, ccxt_errors.InvalidNonce, "40102"),  # older than the venue's window
])  # fmt: skip
async def test_a_request_with_a_bad_signature_or_a_stale_nonce_is_refused(
    served: Served[CryptoComSpot], secret: str, shift_ms: int, error: type[Exception], code: str
) -> None:
    client = ccxt_async.cryptocom({"apiKey": API_KEY, "secret": secret})
    client.urls["api"] = {"v1": served.url + "/exchange/v1"}
    client.nonce = lambda: client.milliseconds() + shift_ms
    try:
        with pytest.raises(error, match=code):
            await client.fetch_balance()
    finally:
        await client.close()


async def test_a_refused_signature_reaches_signalgate_as_an_authentication_failure(
    served: Served[CryptoComSpot],
) -> None:
    exchange = ROAD.exchange(served)
    exchange.client.secret = "not-the-secret"
    try:
        with pytest.raises(errors.AuthenticationFailed):
            await exchange.balances()
    finally:
        await exchange.close()  # type: ignore[attr-defined]
