"""Bybit beyond the road (tests/integration/test_venue_roads.py), through unmodified ccxt against
the local fake (tests/venues/bybit.py): the monitor reading back and cancelling each leg it
placed through Bybit's conditional orders, the signature, client order ids, the unified
account's fetch_order quirk, open orders listed once, leverage, position mode and reduce-only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base import errors as ccxt_errors

from app.adapters.ccxt.client import ccxt_client
from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.ccxt.profiles import TRIGGER_MARK, VENUES
from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg, OrderKind, OrderRequest, OrderState, Side
from app.domain.signals import Action, Signal, StopKind, StopLoss, TakeProfit
from app.ports.errors import AuthenticationFailed, InvalidOrder
from app.services.venue_check import check_venue
from tests.venues import core
from tests.venues.bybit import API_KEY, SECRET, BybitFake, bybit
from tests.venues.http import Served, serve
from tests.venues.road import FAST, Deployment, deployed
from tests.venues.roads import BYBIT, ROADS

pytestmark = pytest.mark.anyio
D = Decimal
SPOT, LINEAR = "BTC/USDT", "BTC/USDT:USDT"
PROFILE = VENUES["bybit"]


@pytest.fixture
def served() -> Iterator[Served[BybitFake]]:
    with serve(bybit()) as running:
        yield running


@pytest.fixture
async def exchange(served: Served[BybitFake]) -> AsyncIterator[CcxtExchange]:
    async with adapter(served) as built:
        yield built


def adapter(served: Served[BybitFake], secret: str = SECRET, key: str = API_KEY) -> CcxtExchange:
    return CcxtExchange("bybit", mode="testnet", api_key=key, secret=secret, retry=FAST,
                        base_url=served.url, timeout_ms=2000, options=BYBIT)  # fmt: skip


def raw(served: Served[BybitFake], **options: Any) -> Any:
    """ccxt's bybit set up as the adapter sets it up, for what the adapter does not ask."""
    keys = {"apiKey": API_KEY, "secret": SECRET}
    return ccxt_client("bybit", "testnet", PROFILE, credentials=keys, base_url=served.url,
                       options={**BYBIT, **options})  # fmt: skip


def asked(venue: BybitFake, path: str) -> list[dict[str, Any]]:
    return [params for seen, params in venue.seen if seen == path]


def order(cid: str, symbol: str, kind: OrderKind, amount: str, side: Side = Side.BUY,
          **terms: Any) -> OrderRequest:  # fmt: skip
    return OrderRequest(cid, symbol, side, kind, D(amount), **terms)


BYBIT_ROADS = [road for road in ROADS if road.name == "bybit"]


@pytest.fixture(params=BYBIT_ROADS, ids=lambda road: road.id or road.name)
async def on(request: pytest.FixtureRequest, sqlite_url: str,
             redis_url: str) -> AsyncIterator[Deployment]:  # fmt: skip
    with serve(request.param.fake()) as running:
        async with deployed(request.param, running, sqlite_url, redis_url) as deployment:
            yield deployment


def long_entry(on: Deployment) -> Signal:
    return Signal(symbol=on.road.symbol, action=Action.BUY, source="tradingview:native",
                  quantity=on.road.amount, take_profits=(TakeProfit(price=on.price("1.04")),),
                  stop_loss=StopLoss(StopKind.PRICE, on.price("0.96")))  # fmt: skip


async def test_the_monitor_reads_back_and_cancels_each_leg_through_the_conditional_orders(
    on: Deployment,
) -> None:
    venue = on.venue
    assert isinstance(venue, BybitFake)
    spot = not on.spec.swap
    signal_id = await on.send(long_entry(on))
    if not spot:  # signalgate's leverage (1 by default) set before the entry
        assert venue.leverage[on.road.market_id] == 1
    legs = {o.leg: o for o in on.bracket(signal_id).orders if o.leg is not Leg.ENTRY}
    # spot: the stop-loss rests (orderFilter=StopOrder), the take-profit is watched
    assert set(legs) == ({Leg.STOP_LOSS} if spot else {Leg.STOP_LOSS, Leg.TAKE_PROFIT})
    (stop,) = on.on_venue(signal_id, Leg.STOP_LOSS)
    assert stop.extra["filter"] == "StopOrder"
    for leg in legs.values():  # the adapter keeps a conditional order's id marked
        assert str(leg.order_id).startswith(TRIGGER_MARK)

    venue.seen.clear()
    assert await on.monitor.run_once() == 0
    reads = asked(venue, "/v5/order/realtime")
    for leg in legs.values():  # each leg read by its id among the conditional orders
        venue_id = str(leg.order_id).removeprefix(TRIGGER_MARK)
        mine = [p for p in reads if p.get("orderId") == venue_id]
        assert mine, reads
        assert all(p["orderFilter"] == "StopOrder" and p["category"] == on.spec.id.split(":")[0]
                   for p in mine)  # fmt: skip

    venue.seen.clear()
    on.move(on.price("1.05"))  # the take-profit is reached: its stop-loss goes
    await on.monitor.run_once()
    await on.monitor.run_once()

    (cancel,) = asked(venue, "/v5/order/cancel")
    assert cancel["orderId"] == stop.id
    if spot:  # a spot cancel finds a StopOrder only when it says so
        assert cancel["orderFilter"] == "StopOrder"
    assert (stop.status, venue.orders[stop.id].extra["cancelType"]) == (core.CANCELED,
                                                                       "CancelByUser")  # fmt: skip
    assert on.bracket(signal_id).state is BracketState.CLOSED
    read_back = raw(on.served)
    try:
        found = await read_back.fetch_order(stop.id, on.road.symbol, {"acknowledged": True})
    finally:
        await read_back.close()
    assert (found["status"], found["info"]["orderStatus"]) == ("canceled", "Deactivated")


async def test_a_close_cancels_both_resting_linear_legs_on_bybits_cancel_endpoint(
    exchange: CcxtExchange, served: Served[BybitFake]
) -> None:
    venue = served.venue
    await exchange.create_order(order("e1", LINEAR, OrderKind.MARKET, "0.01"))
    legs = [
        await exchange.create_order(order(cid, LINEAR, kind, "0.01", Side.SELL,
                                          trigger_price=D(price), reduce_only=True))
        for cid, kind, price in (("sl1", OrderKind.STOP_MARKET, "57600"),
                                 ("tp1", OrderKind.TAKE_PROFIT_MARKET, "62400"))
    ]  # fmt: skip
    created = asked(venue, "/v5/order/create")[1:]
    assert [(p["triggerDirection"], p["reduceOnly"]) for p in created] == [(2, True), (1, True)]

    for leg in legs:
        cancelled = await exchange.cancel_order(LINEAR, leg.order_id)
        assert cancelled.order_id == leg.order_id
        status = await exchange.fetch_order(LINEAR, leg.order_id)
        assert (status.state, status.kind) == (OrderState.CANCELLED, leg.kind)
    assert [p["orderId"] for p in asked(venue, "/v5/order/cancel")] == [
        leg.order_id.removeprefix(TRIGGER_MARK) for leg in legs
    ]
    assert [o.status for o in venue.orders.values() if o.conditional] == [core.CANCELED] * 2


async def test_a_wrong_signature_or_key_is_refused_as_bybit_refuses_it(
    served: Served[BybitFake],
) -> None:
    async with adapter(served, secret="not-the-secret") as wrong:
        with pytest.raises(AuthenticationFailed, match="10004") as refused:
            await wrong.balances()
    assert "error sign!" in str(refused.value)
    async with adapter(served, key="unknown-key") as unknown:
        with pytest.raises(AuthenticationFailed, match="10003") as key:
            await unknown.balances()
    assert (refused.value.key, key.value.key) == ("api_secret", "api_key")
    late = raw(served, timeDifference=5000)  # signed 5 s ago: outside the 1 s recv window
    try:
        with pytest.raises(ccxt_errors.InvalidNonce, match="10002"):
            await late.fetch_balance()
    finally:
        await late.close()
    assert served.venue.orders == {}


@pytest.mark.parametrize(("symbol", "message"), [(SPOT, "170141 "), (LINEAR, "110072 ")])
async def test_a_client_order_id_used_twice_is_refused_as_a_duplicate(
    exchange: CcxtExchange, served: Served[BybitFake], symbol: str, message: str
) -> None:
    first = order("sg-twice", symbol, OrderKind.LIMIT, "0.01", price=D("50000"))
    placed = await exchange.create_order(first)
    with pytest.raises(InvalidOrder) as refused:
        await exchange.create_order(first)
    code = message.strip()
    assert f'"retCode": {code}' in str(refused.value)
    # the lost-create protocol tells a duplicate by these messages
    assert any(m in str(refused.value) for m in PROFILE.duplicate_messages)
    assert [o.id for o in served.venue.with_client_id("sg-twice")] == [placed.order_id]


async def test_an_order_link_id_over_36_characters_or_with_other_characters_is_refused(
    served: Served[BybitFake],
) -> None:
    client = raw(served)
    try:
        for link in ("x" * 37, "sg/slash"):
            with pytest.raises(ccxt_errors.BadRequest, match="10001"):
                await client.create_order(SPOT, "limit", "buy", 0.01, 50000,
                                          {"clientOrderId": link})  # fmt: skip
        placed = await client.create_order(SPOT, "limit", "buy", 0.01, 50000,
                                           {"clientOrderId": "A" * 36})  # fmt: skip
    finally:
        await client.close()
    assert placed["clientOrderId"] == "A" * 36
    assert PROFILE.capabilities.client_order_id_max_length == 36


async def test_fetch_order_needs_acknowledged_on_a_unified_account_and_the_profile_sends_it(
    exchange: CcxtExchange, served: Served[BybitFake]
) -> None:
    """ccxt's fetch_order raises on a unified account unless told the venue answers from its
    last 500 orders only; the profile's fetch_params tell it, and a closed order is read."""
    placed = await exchange.create_order(order("e-ack", SPOT, OrderKind.MARKET, "0.01"))
    client = raw(served)
    try:
        with pytest.raises(ccxt_errors.ArgumentsRequired, match="acknowledged"):
            await client.fetch_order(placed.order_id, SPOT)
    finally:
        await client.close()
    assert PROFILE.fetch_params == {"acknowledged": True}

    status = await exchange.fetch_order(SPOT, placed.order_id)

    assert (status.state, status.filled, status.client_order_id) == (
        OrderState.FILLED, D("0.01"), "e-ack"
    )  # fmt: skip
    (read,) = [p for p in asked(served.venue, "/v5/order/realtime") if "orderId" in p]
    assert read == {"symbol": "BTCUSDT", "orderId": placed.order_id, "category": "spot"}
    entry = served.venue.orders[placed.order_id]  # a market buy counted in BTC, not in USDT
    assert (entry.extra["marketUnit"], entry.amount) == ("baseCoin", D("0.01"))


async def test_open_orders_lists_each_conditional_order_once_and_every_market_without_a_symbol(
    exchange: CcxtExchange,
) -> None:
    """A unified account lists conditional orders among the plain ones too: each is kept once,
    marked. Without a symbol ccxt would list the linear USDT orders only."""
    await exchange.create_order(order("e-s", SPOT, OrderKind.MARKET, "0.01"))
    await exchange.create_order(order("e-l", LINEAR, OrderKind.MARKET, "0.01"))
    await exchange.create_order(order("sl-s", SPOT, OrderKind.STOP_MARKET, "0.01", Side.SELL,
                                      trigger_price=D("57600")))  # fmt: skip
    await exchange.create_order(order("sl-l", LINEAR, OrderKind.STOP_MARKET, "0.01", Side.SELL,
                                      trigger_price=D("57600"), reduce_only=True))  # fmt: skip
    await exchange.create_order(order("lim-s", SPOT, OrderKind.LIMIT, "0.01", price=D("50000")))

    spot = await exchange.open_orders(SPOT)
    every = await exchange.open_orders()

    assert sorted((o.client_order_id, o.order_id.startswith(TRIGGER_MARK)) for o in spot) == [
        ("lim-s", False), ("sl-s", True)
    ]  # fmt: skip
    assert sorted(o.client_order_id for o in every) == ["lim-s", "sl-l", "sl-s"]


async def test_leverage_is_set_on_the_perpetual_and_setting_it_again_is_no_error(
    exchange: CcxtExchange, served: Served[BybitFake]
) -> None:
    assert served.venue.leverage["linear:BTCUSDT"] == 10  # Bybit's default
    await exchange.set_leverage(LINEAR, D(5))
    await exchange.set_leverage(LINEAR, D(5))  # Bybit: 110043 "Set leverage not modified"

    assert served.venue.leverage["linear:BTCUSDT"] == 5
    assert [p["buyLeverage"] for p in asked(served.venue, "/v5/position/set-leverage")] == [
        "5", "5"
    ]  # fmt: skip
    with pytest.raises(InvalidOrder, match="spot market"):
        await exchange.set_leverage(SPOT, D(5))
    with pytest.raises(InvalidOrder, match="leverage invalid"):
        await exchange.set_leverage(LINEAR, D(150))


async def test_the_perpetual_trades_one_way_and_reduce_only_needs_a_position(
    exchange: CcxtExchange, served: Served[BybitFake]
) -> None:
    with pytest.raises(InvalidOrder, match="110017"):
        await exchange.create_order(order("ro", LINEAR, OrderKind.MARKET, "0.01", Side.SELL,
                                          reduce_only=True))  # fmt: skip
    await exchange.create_order(order("long", LINEAR, OrderKind.MARKET, "0.02"))
    (position,) = await exchange.positions([LINEAR])
    assert (position.amount, position.leverage) == (D("0.02"), D(10))
    balance = (await exchange.balances())["USDT"]  # one UNIFIED wallet: the margin is used
    assert balance.used == D("0.02") * D("60000.1") / 10

    client = raw(served)
    try:
        (raw_position,) = await client.fetch_positions([LINEAR])
        assert (raw_position["hedged"], raw_position["info"]["positionIdx"]) == (False, 0)
        with pytest.raises(ccxt_errors.NoChange, match="110025"):
            await client.set_position_mode(False, LINEAR)  # one-way already
        with pytest.raises(ccxt_errors.BadRequest, match="110024"):
            await client.set_position_mode(True, LINEAR)  # not with a position open
    finally:
        await client.close()


async def test_a_hedge_mode_account_refuses_one_way_orders(
    exchange: CcxtExchange, served: Served[BybitFake]
) -> None:
    served.venue.hedge_mode = True
    with pytest.raises(InvalidOrder, match="position idx not match position mode"):
        await exchange.create_order(order("h", LINEAR, OrderKind.MARKET, "0.01"))
    client = raw(served)
    try:
        rows = await client.fetch_positions([LINEAR])
    finally:
        await client.close()
    assert [(p["hedged"], p["info"]["positionIdx"]) for p in rows] == [(True, 1), (True, 2)]


@pytest.mark.parametrize(
    ("symbol", "amount", "price", "code"),
    [(SPOT, 0.00001, None, "170136"), (SPOT, 0.001, 1000, "170140"),
     (LINEAR, 0.001, 1000, "110094")],
)  # fmt: skip
async def test_the_venues_minimums_are_refused_with_its_codes(
    served: Served[BybitFake], symbol: str, amount: float, price: int | None, code: str
) -> None:
    client = raw(served)
    kind = "market" if price is None else "limit"
    try:
        with pytest.raises(ccxt_errors.InvalidOrder, match=code):
            await client.create_order(symbol, kind, "buy", amount, price)
    finally:
        await client.close()
    assert served.venue.orders == {}


async def test_bybits_rate_limit_answer_is_ccxts_rate_limit_error(
    served: Served[BybitFake],
) -> None:
    served.venue.fail_next("create", "429")
    client = raw(served)
    try:
        with pytest.raises(ccxt_async.RateLimitExceeded, match="10006"):
            await client.create_order(SPOT, "market", "buy", 0.01)
    finally:
        await client.close()
    assert served.venue.orders == {}


@pytest.mark.parametrize("hedged", [False, True])
async def test_the_venue_check_reads_the_position_mode_off_the_position_rows(
    exchange: CcxtExchange, served: Served[BybitFake], hedged: bool
) -> None:
    """ccxt has no fetch_position_mode for Bybit: the mode is read off the linear rows."""
    served.venue.hedge_mode = hedged

    report = await check_venue("bybit", exchange)

    assert ("one-way position mode" in report.facts) is not hedged
    assert report.ok is not hedged
    if hedged:
        assert report.problems == [
            "the account is in two-way (hedge) position mode and signalgate trades one-way:"
            " switch it to one-way mode"
        ]
    assert "balance read (USDT 100000)" in report.facts


async def test_a_spot_buy_whose_fee_bybit_takes_in_bitcoin_is_protected_and_sold_net_of_it(
    sqlite_url: str, redis_url: str
) -> None:
    """Bybit takes a spot buy's fee in the coin bought: the stop-loss and the exit sell what
    the account holds (0.01 BTC less 0.1 %), or Bybit would refuse them (170131)."""
    (road,) = [r for r in ROADS if r.name == "bybit" and not r.id]
    fake = bybit()
    fake.spot_fee_in_base = True
    with serve(fake) as running:
        async with deployed(road, running, sqlite_url, redis_url) as on:
            signal_id = await on.send(long_entry(on))
            held = fake.held("BTC")
            (stop,) = on.on_venue(signal_id, Leg.STOP_LOSS)
            on.move(on.price("1.05"))
            await on.monitor.run_once()
            await on.monitor.run_once()
            bracket = on.bracket(signal_id)

    assert held == D("0.01") - D("0.00001")
    assert (stop.amount, stop.status) == (held, core.CANCELED)
    (target,) = [o for o in fake.orders.values() if o.client_id.endswith("tp00")]
    assert (target.side, target.amount, target.status) == ("sell", held, core.FILLED)
    assert fake.held("BTC") == 0
    assert bracket.state is BracketState.CLOSED
    assert (bracket.realized_pnl or 0) > 0
