"""Binance beyond the road (tests/integration/test_venue_roads.py), through unmodified ccxt
against its fakes (tests/venues/binance.py, tests/venues/binance_usdm.py): the monitor reading
back and cancelling each leg where it rests (on USD-M: the Algo Service), a stop-loss fill read
through the order the algo order became, refused signatures, client order id rules and
duplicates, a lost stop-loss create found by its client algo id, position mode, leverage and
the futures wallet."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest

from app.adapters.ccxt.exchange import CcxtExchange
from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg, OrderKind, OrderRequest, OrderState, Side
from app.domain.signals import Action, Signal
from app.ports.errors import AuthenticationFailed, Fatal, InvalidOrder
from tests.integration.test_exchange_ccxt import FAST
from tests.venues import core
from tests.venues.binance import API_KEY, API_SECRET, BinanceSpot, spot
from tests.venues.binance_usdm import BinanceUsdm, usdm
from tests.venues.core import Answer, Request
from tests.venues.http import Served, serve
from tests.venues.road import Deployment, Road, on_fixture, served_fixture  # noqa: F401 - fixtures
from tests.venues.road_scenarios import entry, one
from tests.venues.roads import ROADS

pytestmark = pytest.mark.anyio
D = Decimal
SWAP = "BTC/USDT:USDT"
# where each venue keeps the legs, and the param naming one there
LEGS_AT = {"binance": ("/api/v3/order", "orderId"), "binanceusdm": ("/fapi/v1/algoOrder", "algoId")}


@dataclass
class SeenSpot(BinanceSpot):
    seen: list[Request] = field(default_factory=list)

    def handle(self, request: Request) -> Answer | None:
        self.seen.append(request)
        return super().handle(request)


@dataclass
class SeenUsdm(BinanceUsdm):
    seen: list[Request] = field(default_factory=list)

    def handle(self, request: Request) -> Answer | None:
        self.seen.append(request)
        return super().handle(request)


def seeing(road: Road) -> Road:
    """The road on a fake that keeps every request it gets."""
    fake = road.fake()
    kind = SeenUsdm if isinstance(fake, BinanceUsdm) else SeenSpot
    keep = {f.name: getattr(fake, f.name) for f in dataclasses.fields(fake) if f.init}
    return dataclasses.replace(road, fake=lambda: kind(**keep))


def ids_sent(venue: Any, method: str, path: str, param: str) -> list[str]:
    """The `param` of each `method` `path` request the venue got that has one, in order."""
    queries = [dict(parse_qsl(r.query)) for r in venue.seen if (r.method, r.path) == (method, path)]
    return [query[param] for query in queries if param in query]


@pytest.fixture(params=["binance", "binanceusdm"])
def road(request: pytest.FixtureRequest) -> Road:
    return seeing(next(road for road in ROADS if road.name == request.param))


async def test_the_monitor_reads_back_and_cancels_each_leg_it_placed_where_it_rests(
    on: Deployment,
) -> None:
    signal_id = await on.send(entry(on))
    legs = [o for o in on.bracket(signal_id).orders if o.leg is not Leg.ENTRY and o.order_id]
    venue_ids = {str(o.order_id).removeprefix("trigger:") for o in legs}
    path, param = LEGS_AT[on.road.name]
    # spot: the stop-loss rests (the take-profit is watched); USD-M: both, as algo orders
    assert len(legs) == (2 if on.spec.swap else 1)

    await on.monitor.run_once()
    assert set(ids_sent(on.venue, "GET", path, param)) >= venue_ids

    closer = Signal(symbol=on.road.symbol, action=Action.CLOSE, source="tradingview:native")
    await on.send(closer)

    assert set(ids_sent(on.venue, "DELETE", path, param)) == venue_ids
    for leg in legs:
        assert one(on.on_venue(signal_id, leg.leg, leg.revision, leg.index)).status == core.CANCELED
    assert on.bracket(signal_id).state is BracketState.CLOSED
    if on.spec.swap:  # never asked for where Binance does not keep them
        legs_in_book = set(ids_sent(on.venue, "GET", "/fapi/v1/order", "orderId"))
        legs_in_book |= set(ids_sent(on.venue, "DELETE", "/fapi/v1/order", "orderId"))
        assert not legs_in_book & venue_ids


@pytest.mark.parametrize("road", ["binanceusdm"], indirect=True)
async def test_a_stop_loss_fill_is_read_from_the_order_the_algo_order_became(
    on: Deployment, road: Road
) -> None:
    signal_id = await on.send(entry(on))
    crash = on.price("0.95")
    on.move(crash)  # through the stop: the Algo Service places a market order and it fills

    await on.monitor.run_once()

    stop = one(on.on_venue(signal_id, Leg.STOP_LOSS))
    actual = stop.extra["actual"]
    assert ids_sent(on.venue, "GET", "/fapi/v1/order", "orderId") == [actual]
    [leg] = [o for o in on.bracket(signal_id).orders if o.leg is Leg.STOP_LOSS]
    assert leg.order_id == f"trigger:{stop.id}"
    assert (leg.state, leg.filled, leg.average_price) == (
        OrderState.FILLED, on.road.amount, crash - on.spec.tick
    )  # fmt: skip
    assert on.held() == 0


@asynccontextmanager
async def adapter(served: Served[Any], exchange_id: str, **overrides: Any) -> AsyncIterator[
    CcxtExchange
]:  # fmt: skip
    settings: dict[str, Any] = {
        "mode": "testnet", "api_key": API_KEY, "secret": API_SECRET, "base_url": served.url,
        "timeout_ms": 500, "retry": FAST, "options": {"recvWindow": 300},
    } | overrides  # fmt: skip
    exchange = CcxtExchange(exchange_id, **settings)
    try:
        yield exchange
    finally:
        await exchange.close()


FAKES = {"binance": spot, "binanceusdm": usdm}
SYMBOLS = {"binance": "BTC/USDT", "binanceusdm": SWAP}


@pytest.mark.parametrize("venue", ["binance", "binanceusdm"])
@pytest.mark.parametrize(
    ("key", "secret", "message", "at_fault"),
    [
        (API_KEY, "not-the-secret", "Signature for this request is not valid", "api_secret"),
        ("someone-else", API_SECRET, "Invalid API-key, IP, or permissions for action", "api_key"),
    ],
)
async def test_a_request_the_venue_cannot_authenticate_is_refused(
    venue: str, key: str, secret: str, message: str, at_fault: str
) -> None:
    with serve(FAKES[venue]()) as served:
        async with adapter(served, venue, api_key=key, secret=secret) as exchange:
            with pytest.raises(AuthenticationFailed, match=message) as refused:
                await exchange.balances()
    assert refused.value.key == at_fault


def resting(venue: str, cid: str) -> OrderRequest:
    if venue == "binance":
        return OrderRequest(cid, "BTC/USDT", Side.BUY, OrderKind.LIMIT, D("0.01"), D(40000))
    return OrderRequest(cid, SWAP, Side.SELL, OrderKind.STOP_MARKET, D("0.01"),
                        trigger_price=D(45000), reduce_only=True)  # fmt: skip


async def opened(exchange: CcxtExchange, venue: str) -> None:
    """A long of 0.01 BTC on USD-M (a reduce-only stop-loss needs one to reduce)."""
    if venue == "binanceusdm":
        entry = OrderRequest("sg-open", SWAP, Side.BUY, OrderKind.MARKET, D("0.01"))
        assert (await exchange.create_order(entry)).state is OrderState.FILLED


@pytest.mark.parametrize(
    ("venue", "message"),
    [("binance", "Duplicate order sent"), ("binanceusdm", "ClientOrderId is duplicated")],
)
async def test_a_client_order_id_an_open_order_has_is_refused_as_a_duplicate(
    venue: str, message: str
) -> None:
    with serve(FAKES[venue]()) as served:
        async with adapter(served, venue) as exchange:
            await opened(exchange, venue)
            first = await exchange.create_order(resting(venue, "sg-dup-1"))
            with pytest.raises(InvalidOrder, match=message):
                await exchange.create_order(resting(venue, "sg-dup-1"))
            found = await exchange.fetch_order_by_client_id(SYMBOLS[venue], "sg-dup-1")

        assert found == first
        assert len(served.venue.with_client_id("sg-dup-1")) == 1


async def test_a_client_order_id_is_free_again_once_its_order_is_done() -> None:
    """Binance: "a unique id among open orders"; the lost-create protocol waits out a lost
    request's expiry before it re-sends one for this reason."""
    with serve(spot()) as served:
        async with adapter(served, "binance") as exchange:
            first = await exchange.create_order(resting("binance", "sg-again"))
            await exchange.cancel_order("BTC/USDT", first.order_id)
            again = await exchange.create_order(resting("binance", "sg-again"))

        assert again.state is OrderState.ACCEPTED
        assert [o.status for o in served.venue.with_client_id("sg-again")] == [
            core.CANCELED, core.OPEN
        ]  # fmt: skip


@pytest.mark.parametrize(
    ("venue", "message"),
    [("binance", "Illegal characters found in parameter 'newClientOrderId'"),
     ("binanceusdm", "Client order id is not valid")],
)  # fmt: skip
@pytest.mark.parametrize("cid", ["x" * 37, "sg id with spaces"])
async def test_a_client_order_id_outside_binances_rule_is_refused(
    venue: str, message: str, cid: str
) -> None:
    with serve(FAKES[venue]()) as served:
        async with adapter(served, venue) as exchange:
            await opened(exchange, venue)
            with pytest.raises(InvalidOrder, match=message):
                await exchange.create_order(resting(venue, cid))


async def test_a_conditional_order_on_the_order_endpoint_is_refused_since_the_algo_service() -> (
    None
):
    """What ccxt before the Algo Service sent for a stop-loss: Binance now answers -4120."""
    with serve(usdm()) as served:
        async with adapter(served, "binanceusdm") as exchange:
            client = exchange.client
            await client.load_markets()
            with pytest.raises(Exception, match="-4120") as refused:
                await client.fapiPrivatePostOrder({
                    "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET",
                    "quantity": "0.01", "stopPrice": "45000", "reduceOnly": "true",
                })  # fmt: skip
        assert "Please use the Algo Order API endpoints instead" in str(refused.value)
        assert served.venue.orders == {}


async def test_a_lost_stop_loss_create_is_found_by_its_client_algo_id() -> None:
    with serve(usdm()) as served:
        async with adapter(served, "binanceusdm") as exchange:
            await opened(exchange, "binanceusdm")
            served.venue.fail_next("create", "create_then_hang")
            status = await exchange.create_order(resting("binanceusdm", "sg-lost-sl"))
            read = await exchange.fetch_order(SWAP, status.order_id)

        [stop] = served.venue.with_client_id("sg-lost-sl")
        assert status.order_id == read.order_id == f"trigger:{stop.id}"
        assert (status.state, read.state, status.trigger_price) == (
            OrderState.ACCEPTED, OrderState.ACCEPTED, D(45000)
        )  # fmt: skip
        assert served.venue.count("create") == 2  # the entry, and the stop-loss once


async def test_a_reduce_only_leg_triggering_with_nothing_left_to_reduce_expires() -> None:
    with serve(usdm()) as served:
        venue = served.venue
        async with adapter(served, "binanceusdm") as exchange:
            await opened(exchange, "binanceusdm")
            stop = await exchange.create_order(resting("binanceusdm", "sg-sl"))
            flat = OrderRequest("sg-flat", SWAP, Side.SELL, OrderKind.MARKET, D("0.01"),
                                reduce_only=True)  # fmt: skip
            await exchange.create_order(flat)
            venue.set_price("BTCUSDT", D(44000), D("44000.1"))
            read = await exchange.fetch_order(SWAP, stop.order_id)
            positions = await exchange.positions()

        assert (read.state, read.filled) == (OrderState.EXPIRED, 0)
        assert positions == []  # not flipped short


async def test_a_hedge_mode_account_shows_as_hedged_and_its_one_way_orders_are_refused() -> None:
    with serve(usdm(hedge_mode=True)) as served:
        async with adapter(served, "binanceusdm") as exchange:
            await exchange.markets()
            mode = await exchange.client.fetch_position_mode(SWAP)
            # ccxt: OperationRejected, which the adapter gives as Fatal (nothing to retry)
            with pytest.raises(Fatal, match="position side does not match"):
                await exchange.create_order(
                    OrderRequest("sg-1", SWAP, Side.BUY, OrderKind.MARKET, D("0.01"))
                )
    assert mode["hedged"] is True


async def test_leverage_is_set_on_the_venue_and_the_margin_read_from_the_futures_wallet() -> None:
    with serve(usdm()) as served:
        async with adapter(served, "binanceusdm") as exchange:
            await exchange.markets()
            mode = await exchange.client.fetch_position_mode(SWAP)
            await exchange.set_leverage(SWAP, D(5))
            await opened(exchange, "binanceusdm")
            balances = await exchange.balances()

        venue = served.venue
        assert mode["hedged"] is False
        assert venue.leverage["BTCUSDT"] == 5
        assert venue.requests.count(("POST", "/fapi/v1/leverage")) == 1
        assert venue.requests.count(("GET", "/fapi/v3/account")) == 1
        assert balances["USDT"].used == D(100)  # 0.01 x 50,000 (the mark) / 5
        fee = D("0.01") * D(50010) * D("0.0005")
        unrealized = D("0.01") * (D(50000) - D(50010))
        assert balances["USDT"].free == D(10000) - fee + unrealized - D(100)
