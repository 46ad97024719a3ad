"""BingX USDT-M swaps beyond the road (tests/integration/test_venue_roads.py): unmodified ccxt
`bingx` against the local fake (tests/venues/bingx.py), through signalgate's adapter where the
adapter is what is proven, through ccxt alone where the fake's faithfulness is."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base import errors as ccxt_errors

from app.adapters.ccxt.client import Mode
from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.ccxt.profiles import VENUES, overridden_urls
from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg, OrderKind, OrderRequest, OrderState, Side, client_order_id
from app.domain.signals import Action, OrderType, Signal, StopKind, StopLoss, TakeProfit
from app.ports.errors import AuthenticationFailed, InvalidOrder
from app.services.venue_check import check_venue
from tests.venues import bingx, core
from tests.venues.bingx import API_KEY, SECRET, FakeBingx
from tests.venues.http import Served, serve
from tests.venues.road import FAST, Deployment, deployed
from tests.venues.roads import ROADS

pytestmark = pytest.mark.anyio
D = Decimal
BTC = "BTC/USDT:USDT"
ROAD = next(road for road in ROADS if road.name == "bingx")


@pytest.fixture
def served() -> Iterator[Served[FakeBingx]]:
    with serve(FakeBingx()) as running:
        yield running


@pytest.fixture
async def on(
    served: Served[FakeBingx], sqlite_url: str, redis_url: str
) -> AsyncIterator[Deployment]:
    async with deployed(ROAD, served, sqlite_url, redis_url) as deployment:
        yield deployment


def adapter(
    served: Served[FakeBingx], *, mode: Mode = "testnet", secret: str = SECRET
) -> CcxtExchange:
    return CcxtExchange("bingx", mode=mode, api_key=API_KEY, secret=secret, base_url=served.url,
                        timeout_ms=500, retry=FAST)  # fmt: skip


def plain_ccxt(served: Served[FakeBingx], **options: Any) -> Any:
    """ccxt `bingx` as anyone would build it: none of signalgate's profile options."""
    client = ccxt_async.bingx({"apiKey": API_KEY, "secret": SECRET, "options": options})
    client.set_sandbox_mode(True)
    client.urls["api"] = overridden_urls(client.urls["api"], served.url, VENUES["bingx"])
    return client


def bracket_entry(on: Deployment, **terms: Any) -> Signal:
    return Signal(symbol=BTC, action=Action.BUY, source="tradingview:native",
                  quantity=ROAD.amount, take_profits=(TakeProfit(price=on.price("1.04")),),
                  stop_loss=StopLoss(StopKind.PRICE, on.price("0.96")), **terms)  # fmt: skip


def legs(on: Deployment, signal_id: str) -> dict[Leg, core.Order]:
    return {leg: on.on_venue(signal_id, leg)[0] for leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)}


# --- the monitor and the legs it placed ------------------------------------------------------


async def test_the_legs_are_the_positions_own_stop_market_and_take_profit_market_orders(
    on: Deployment,
) -> None:
    signal_id = await on.send(bracket_entry(on))

    sent = {p["clientOrderID"]: p for p in on.venue.sent("create")}
    stop, target = legs(on, signal_id).values()
    assert (sent[stop.client_id]["type"], sent[target.client_id]["type"]) == (
        "STOP_MARKET", "TAKE_PROFIT_MARKET"
    )  # fmt: skip
    for leg in (stop, target):
        assert sent[leg.client_id]["positionSide"] == "BOTH"
        assert sent[leg.client_id]["reduceOnly"] == "true"
        assert D(sent[leg.client_id]["stopPrice"]) == leg.trigger
    # leverage set before the entry, for the one-way position side
    assert [(p["side"], p["leverage"]) for p in on.venue.sent("leverage")] == [("BOTH", "1")]
    assert stop.client_id == stop.client_id.lower()  # BingX's own case: what signalgate keeps
    assert stop.client_id in {o.client_order_id for o in on.bracket(signal_id).orders}


async def test_the_monitor_reads_back_and_cancels_each_leg_it_placed(on: Deployment) -> None:
    signal_id = await on.send(bracket_entry(on))
    placed = legs(on, signal_id)
    ids = {order.id for order in placed.values()}
    before = len(on.venue.sent("fetch"))

    assert await on.monitor.run_once() == 0
    read = {p["orderId"] for p in on.venue.sent("fetch")[before:]}
    assert ids <= read  # each leg read back by its order id on trade/order
    await on.send(Signal(symbol=BTC, action=Action.CLOSE, source="tradingview:native"))

    cancelled = {p["orderId"] for p in on.venue.sent("cancel")}
    assert cancelled == ids  # DELETE trade/order, the plain endpoint: no trigger params
    assert all(o.status == core.CANCELED for o in placed.values())
    assert on.bracket(signal_id).state is BracketState.CLOSED
    assert on.held() == 0


async def test_a_stop_resized_after_a_partial_fill_is_replaced_old_first_on_bingx(
    on: Deployment,
) -> None:
    """BingX refuses pending stop-losses larger together than the position (101290): the
    new-first replacement is refused while the half-size stop rests, and the driver goes on
    old-first; the position is never left without its stop-loss on the venue."""
    limit = on.price("0.99")
    signal_id = await on.send(bracket_entry(on, order_type=OrderType.LIMIT, limit_price=limit))
    entry = on.on_venue(signal_id, Leg.ENTRY)[0]
    on.venue.fill_partially(entry.client_id, entry.amount / 2)
    await on.monitor.run_once()
    on.venue.fill_partially(entry.client_id, entry.amount / 2)

    await on.monitor.run_once()
    await on.monitor.run_once()

    def stop(revision: int) -> str:
        return client_order_id(signal_id, Leg.STOP_LOSS, revision, max_length=40, lowercase=True)

    accepted = {o.client_id: o for o in on.venue.orders.values()}
    refused = [cid for cid in on.venue.creates if cid not in accepted]
    assert refused == [stop(1)]  # the new-first replacement, refused by BingX (101290)
    assert (accepted[stop(0)].status, accepted[stop(0)].amount) == (core.CANCELED, entry.amount / 2)
    assert (accepted[stop(2)].status, accepted[stop(2)].amount) == (core.OPEN, entry.amount)
    assert on.bracket(signal_id).state is BracketState.OPEN


async def test_positions_fills_and_open_orders_read_through_the_adapter(
    served: Served[FakeBingx],
) -> None:
    short = OrderRequest("sg01kbshort000000000000001en00", BTC, Side.SELL, OrderKind.MARKET,
                         D("0.02"))  # fmt: skip
    stop = OrderRequest("sg01kbshort000000000000001sl00", BTC, Side.BUY, OrderKind.STOP_MARKET,
                        D("0.02"), trigger_price=D("63000"), reduce_only=True)  # fmt: skip
    async with adapter(served) as exchange:
        sold = await exchange.create_order(short)
        resting = await exchange.create_order(stop)
        [position] = await exchange.positions([BTC])
        fills = await exchange.fills_since(BTC, datetime.now(UTC) - timedelta(minutes=1))
        listed = await exchange.open_orders()  # no symbol: the swap account's, not spot's
        read = await exchange.fetch_order(BTC, resting.order_id)

    assert (sold.state, sold.filled, sold.average_price) == (OrderState.FILLED, D("0.02"),
                                                             D("60000.0"))  # fmt: skip
    assert (position.amount, position.entry_price) == (D("-0.02"), D("60000.0"))
    assert [(f.side, f.amount, f.price, f.order_id) for f in fills] == [
        (Side.SELL, D("0.02"), D("60000.0"), sold.order_id)
    ]  # fmt: skip
    assert [(o.client_order_id, o.state) for o in listed] == [(stop.client_order_id,
                                                               OrderState.ACCEPTED)]  # fmt: skip
    assert (read.kind, read.trigger_price, read.reduce_only) == (
        OrderKind.STOP_MARKET, D("63000"), True
    )  # fmt: skip


# --- the wallet: ccxt's spot default ---------------------------------------------------------


async def test_plain_ccxt_reads_the_spot_wallet_for_a_swap_account(
    served: Served[FakeBingx],
) -> None:
    client = plain_ccxt(served)
    try:
        spot = await client.fetch_balance()
        swap = await client.fetch_balance({"type": "swap"})
    finally:
        await client.close()

    assert spot["USDT"]["free"] == 25  # spot/v1/account/balance: not what the swaps trade with
    assert swap["USDT"]["free"] == 100_000  # swap/v3/user/balance
    assert [path for _, path, _ in served.venue.calls if "balance" in path] == [
        "/openApi/spot/v1/account/balance", "/openApi/swap/v3/user/balance"
    ]  # fmt: skip


@pytest.mark.parametrize("mode", ["testnet", "live"])
async def test_the_adapter_reads_the_swap_wallet(served: Served[FakeBingx], mode: Mode) -> None:
    """Live, ccxt loads BingX's spot and Coin-M markets too: BTC/USDT spot sits beside the swap,
    and the balance is still the swap wallet's."""
    async with adapter(served, mode=mode) as exchange:
        markets = await exchange.markets()
        balances = await exchange.balances()

    assert BTC in markets
    assert ("BTC/USDT" in markets) is (mode == "live")
    assert balances["USDT"].free == 100_000
    assert not any(path == "/openApi/spot/v1/account/balance" for _, path, _ in served.venue.calls)


# --- what BingX refuses --------------------------------------------------------------------


async def test_a_bad_signature_is_refused_as_bingx_refuses_it(served: Served[FakeBingx]) -> None:
    async with adapter(served, secret="not-the-secret") as exchange:
        await exchange.markets()  # public: no signature
        with pytest.raises(AuthenticationFailed, match="100001") as refused:
            await exchange.balances()
    assert refused.value.key == "api_secret"


async def test_a_client_order_id_used_twice_is_refused_as_a_duplicate(
    served: Served[FakeBingx],
) -> None:
    first = OrderRequest("sg01KBDUPLICATE0000000000001en00", BTC, Side.BUY, OrderKind.MARKET,
                         D("0.01"))  # fmt: skip
    again = OrderRequest(first.client_order_id.lower(), BTC, Side.BUY, OrderKind.MARKET, D("0.01"))
    async with adapter(served) as exchange:
        placed = await exchange.create_order(first)
        with pytest.raises(InvalidOrder, match="101481") as refused:
            await exchange.create_order(again)  # the same id once BingX lower-cases it

    assert placed.state is OrderState.FILLED
    assert isinstance(refused.value.__cause__, ccxt_errors.DuplicateOrderId)
    assert len(served.venue.with_client_id(again.client_order_id)) == 1


async def test_leverage_is_set_for_the_one_way_position_side(served: Served[FakeBingx]) -> None:
    async with adapter(served) as exchange:
        await exchange.set_leverage(BTC, D(10))
        served.venue.hedge_mode = True
        with pytest.raises(InvalidOrder, match="109400"):
            await exchange.set_leverage(BTC, D(20))

    assert served.venue.leverage["BTC-USDT"] == 10
    assert served.venue.sent("leverage")[0]["side"] == "BOTH"


async def test_the_position_mode_reads_as_bingx_answers_it(served: Served[FakeBingx]) -> None:
    client = plain_ccxt(served)
    try:
        one_way = await client.fetch_position_mode(BTC)
        await client.set_position_mode(True, BTC)
        hedged = await client.fetch_position_mode(BTC)
        with pytest.raises(ccxt_errors.BadRequest, match="only be set to LONG or SHORT"):
            await client.create_order(BTC, "market", "buy", 0.01)  # positionSide BOTH
    finally:
        await client.close()

    assert (one_way["hedged"], hedged["hedged"]) == (False, True)


@pytest.mark.parametrize("hedged", [False, True])
async def test_the_venue_check_reads_the_position_mode_and_refuses_hedge_mode(
    served: Served[FakeBingx], hedged: bool
) -> None:
    served.venue.hedge_mode = hedged
    async with adapter(served) as exchange:
        report = await check_venue("bingx", exchange)

    assert report.ok is not hedged
    assert ("one-way position mode" in report.facts) is not hedged
    assert any("two-way (hedge) position mode" in p for p in report.problems) is hedged
    assert any(f.startswith("clock skew") for f in report.facts)  # swap/v2/server/time


@pytest.mark.parametrize(
    ("amount", "price", "params", "error", "code"),
    [
        (0.00001, 50000, {}, ccxt_errors.InvalidOrder, "101400"),  # under the minimum amount
        (0.0001, 1000, {}, ccxt_errors.InvalidOrder, "101400"),  # under 2 USDT
        (0.01, 50000, {"reduceOnly": True}, ccxt_errors.InvalidOrder, "101205"),  # no position
        (0.01, 50000, {"stopLossPrice": 59000}, ccxt_errors.InvalidOrder, "101205"),
        (0.01, 50000, {"clientOrderId": "x" * 41}, ccxt_errors.BadRequest, "80014"),
    ],
)
async def test_orders_bingx_refuses(served: Served[FakeBingx], amount: float, price: float,
                                    params: dict[str, Any], error: type[Exception],
                                    code: str) -> None:  # fmt: skip
    client = plain_ccxt(served)
    client.options["defaultType"] = "swap"
    try:
        await client.load_markets()
        # ccxt's own precision would round these: the raw request reaches the venue
        client.markets[BTC]["precision"]["amount"] = 0.00001
        with pytest.raises(error, match=code):
            await client.create_order(BTC, "limit", "buy", amount, price, params)
    finally:
        await client.close()


async def test_a_stop_already_reached_and_a_stop_beyond_the_position_are_refused(
    served: Served[FakeBingx],
) -> None:
    client = plain_ccxt(served)
    try:
        await client.create_order(BTC, "market", "buy", 0.01)
        with pytest.raises(ccxt_errors.ExchangeError, match="110411"):
            await client.create_order(BTC, "market", "sell", 0.01, None,
                                      {"stopLossPrice": 61000})  # above the price  # fmt: skip
        await client.create_order(BTC, "market", "sell", 0.01, None, {"stopLossPrice": 59000})
        with pytest.raises(ccxt_errors.ExchangeError, match="101290"):
            await client.create_order(BTC, "market", "sell", 0.005, None, {"stopLossPrice": 58000})
        target = await client.create_order(BTC, "market", "sell", 0.01, None,
                                           {"takeProfitPrice": 62000})  # fmt: skip
    finally:
        await client.close()

    assert target["takeProfitPrice"] == 62000  # targets count apart from stops


async def test_the_venue_refuses_an_expired_request(served: Served[FakeBingx]) -> None:
    client = plain_ccxt(served)
    client.nonce = lambda: bingx.now_ms() - 6000  # older than BingX's 5000 ms window
    try:
        with pytest.raises(ccxt_errors.BadRequest, match="timestamp is invalid"):
            await client.fetch_balance({"type": "swap"})
    finally:
        await client.close()
