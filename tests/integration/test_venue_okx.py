"""OKX through unmodified ccxt against its local fake (tests/venues/okx.py): what the road
(tests/integration/test_venue_roads.py) does not show for this venue. The monitor reads back and
cancels each leg through OKX's algo endpoints; conditional orders are seen only with the trigger
params; a create answer (ids and sCode "0", no state) is an accepted order; swaps count
contracts (5,000 DOGE is sz=5 at ctVal 1000); signatures, the duplicate clOrdId and clOrdId's
rules are OKX's own answers; leverage, the position mode and the trading account's balance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base import errors as ccxt_errors

from app.adapters.ccxt.calls import RetryPolicy
from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.ccxt.profiles import TRIGGER_MARK
from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg, OrderKind, OrderRequest, OrderState, Side
from app.domain.signals import Action, Signal, StopKind, StopLoss, TakeProfit
from app.ports.errors import AuthenticationFailed, InvalidOrder
from tests.venues import core, okx
from tests.venues.http import Served, serve
from tests.venues.road import Deployment, deployed
from tests.venues.roads import ROADS

pytestmark = pytest.mark.anyio
D = Decimal
FAST = RetryPolicy(attempts=2, backoff_seconds=0.01, lookup_attempts=2, expiry_margin_seconds=0.1)
SWAP = next(road for road in ROADS if road.id == "okx-swap")
ALGO, CANCEL_ALGOS = "/api/v5/trade/order-algo", "/api/v5/trade/cancel-algos"


@pytest.fixture
def served() -> Iterator[Served[okx.OkxVenue]]:
    with serve(okx.spot_and_swaps()) as running:
        yield running


def adapter(served: Served[Any], **overrides: Any) -> CcxtExchange:
    terms: dict[str, Any] = {"mode": "testnet", "api_key": okx.API_KEY, "secret": okx.SECRET,
                             "password": okx.PASSPHRASE, "base_url": served.url,
                             "timeout_ms": 500, "retry": FAST} | overrides  # fmt: skip
    return CcxtExchange("okx", **terms)


@pytest.fixture
async def exchange(served: Served[okx.OkxVenue]) -> AsyncIterator[CcxtExchange]:
    async with adapter(served) as running:
        yield running


@pytest.fixture
async def raw(served: Served[okx.OkxVenue]) -> AsyncIterator[Any]:
    """Plain ccxt okx in sandbox mode on the fake."""
    client = ccxt_async.okx({"apiKey": okx.API_KEY, "secret": okx.SECRET,
                             "password": okx.PASSPHRASE})  # fmt: skip
    client.set_sandbox_mode(True)
    client.urls["api"] = {"rest": served.url}
    try:
        yield client
    finally:
        await client.close()


def order(
    cid: str, symbol: str, side: Side, kind: OrderKind, amount: str, **terms: Any
) -> OrderRequest:
    return OrderRequest(cid, symbol, side, kind, D(amount), **terms)


# --- the monitor and the legs -----------------------------------------------------------------


async def test_the_monitor_reads_back_and_cancels_each_leg_through_the_algo_endpoints(
    served: Served[okx.OkxVenue], sqlite_url: str, redis_url: str
) -> None:
    venue = served.venue
    async with deployed(SWAP, served, sqlite_url, redis_url) as on:
        signal_id = await on.send(_entry(on))
        legs = [one(on.on_venue(signal_id, leg)) for leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT)]
        assert [o.id in venue.algo_ids for o in legs] == [True, True]
        assert [(o.kind, o.extra["ordType"], o.reduce_only) for o in legs] == [
            (core.STOP, "conditional", True), (core.TAKE_PROFIT, "conditional", True)
        ]  # fmt: skip
        kept = {o.leg: o for o in on.bracket(signal_id).orders}
        assert kept[Leg.STOP_LOSS].state is OrderState.ACCEPTED  # the answer: accepted
        assert kept[Leg.STOP_LOSS].order_id == TRIGGER_MARK + legs[0].id
        reads = _count(venue, "GET", ALGO)

        assert await on.monitor.run_once() == 0
        assert _count(venue, "GET", ALGO) - reads >= 2  # each leg, read at the algo endpoint

        await on.send(Signal(symbol=SWAP.symbol, action=Action.CLOSE,
                             source="tradingview:native"))  # fmt: skip
        assert [o.status for o in legs] == [core.CANCELED, core.CANCELED]
        assert _count(venue, "POST", CANCEL_ALGOS) == 2
        assert _count(venue, "POST", "/api/v5/trade/cancel-order") == 0
        assert on.bracket(signal_id).state is BracketState.CLOSED


async def test_a_triggered_stop_loss_is_read_with_the_fills_of_the_order_it_placed(
    served: Served[okx.OkxVenue], sqlite_url: str, redis_url: str
) -> None:
    """An `effective` algo order carries no fills (no accFillSz, no avgPx): they are on the
    market order of its ordIdList, which the adapter reads."""
    async with deployed(SWAP, served, sqlite_url, redis_url) as on:
        signal_id = await on.send(_entry(on))
        on.move(on.price("0.95"))
        await on.monitor.run_once()

        stop = {o.leg: o for o in on.bracket(signal_id).orders}[Leg.STOP_LOSS]
        placed = one(on.on_venue(signal_id, Leg.STOP_LOSS))
        assert (stop.state, stop.filled) == (OrderState.FILLED, SWAP.amount)
        assert stop.average_price == placed.average is not None
        assert _count(served.venue, "GET", "/api/v5/trade/order") >= 1


# --- conditional orders live apart --------------------------------------------------------------


async def test_conditional_orders_are_seen_only_with_the_trigger_params(
    served: Served[okx.OkxVenue], raw: Any
) -> None:
    await raw.create_order("BTC/USDT", "market", "buy", 0.01, None, {"clientOrderId": "entry1"})
    stop = await raw.create_order("BTC/USDT", "market", "sell", 0.01, None,
                                  {"clientOrderId": "stop1", "stopLossPrice": 57000})  # fmt: skip
    trigger = {"trigger": True, "ordType": "conditional"}

    with pytest.raises(ccxt_errors.OrderNotFound):  # 51603 at /trade/order
        await raw.fetch_order(stop["id"], "BTC/USDT")
    assert await raw.fetch_open_orders("BTC/USDT") == []
    with pytest.raises(ccxt_errors.OrderNotFound):  # 51400 at /trade/cancel-order
        await raw.cancel_order(stop["id"], "BTC/USDT")
    # ccxt's trigger listing alone asks for ordType "trigger": the stop-loss is "conditional"
    assert await raw.fetch_open_orders("BTC/USDT", None, None, {"trigger": True}) == []

    found = await raw.fetch_order(stop["id"], "BTC/USDT", trigger)
    assert (found["status"], found["stopLossPrice"], found["clientOrderId"]) == (
        "open", 57000, "stop1")  # fmt: skip
    listed = await raw.fetch_open_orders("BTC/USDT", None, None, trigger)
    assert [o["id"] for o in listed] == [stop["id"]]
    await raw.cancel_order(stop["id"], "BTC/USDT", trigger)
    assert served.venue.with_client_id("stop1")[0].status == core.CANCELED


async def test_the_adapter_lists_and_finds_conditional_orders_by_client_id(
    served: Served[okx.OkxVenue], exchange: CcxtExchange
) -> None:
    btc = "BTC/USDT:USDT"
    await exchange.create_order(order("entry2", btc, Side.BUY, OrderKind.MARKET, "0.02"))
    stop = order("stop2", btc, Side.SELL, OrderKind.STOP_MARKET, "0.02", trigger_price=D(57000),
                 reduce_only=True)  # fmt: skip
    placed = await exchange.create_order(stop)

    assert (placed.state, placed.order_id.startswith(TRIGGER_MARK)) == (OrderState.ACCEPTED, True)
    assert [o.client_order_id for o in await exchange.open_orders(btc)] == ["stop2"]
    found = await exchange.fetch_order_by_client_id(btc, "stop2")
    assert found is not None
    assert found.order_id == placed.order_id
    cancelled = await exchange.cancel_order(btc, placed.order_id)
    assert cancelled.order_id == placed.order_id
    assert (await exchange.fetch_order(btc, placed.order_id)).state is OrderState.CANCELLED


async def test_a_stop_loss_already_crossed_is_refused_with_okx_s_code(
    exchange: CcxtExchange,
) -> None:
    request = order("stop3", "BTC/USDT:USDT", Side.SELL, OrderKind.STOP_MARKET, "0.01",
                    trigger_price=D(61000))  # fmt: skip
    with pytest.raises(InvalidOrder, match="51280"):
        await exchange.create_order(request)


async def test_a_place_order_carries_its_exptime_deadline_and_an_algo_order_none(
    served: Served[okx.OkxVenue], exchange: CcxtExchange
) -> None:
    """OKX does not process a place order received after its expTime header (ccxt sends none):
    a create lost to a 429 or a 5xx is waited out and sent again. Algo orders take no expTime:
    theirs never expire, so the venue's one expiry figure (for the driver's misses) is None."""
    btc = "BTC/USDT:USDT"
    before = core.now_ms()
    await exchange.create_order(order("exp1", btc, Side.BUY, OrderKind.MARKET, "0.01"))
    await exchange.create_order(order("exp2", btc, Side.SELL, OrderKind.STOP_MARKET, "0.01",
                                      trigger_price=D(57000), reduce_only=True))  # fmt: skip

    deadline = int(one(served.venue.with_client_id("exp1")).extra["expTime"])
    assert before + 5000 <= deadline <= core.now_ms() + 5000
    assert one(served.venue.with_client_id("exp2")).extra["expTime"] is None
    assert exchange.request_expiry_seconds is None


async def test_concurrent_creates_each_carry_their_own_exptime(
    served: Served[okx.OkxVenue], exchange: CcxtExchange
) -> None:
    """Creates of different keys run at once on one client: a stop-loss (no expTime) sent
    while a place order waits for ccxt's throttle must not strip that order's deadline, or a
    lost place order could execute after its copy was sent (a double entry)."""
    btc = "BTC/USDT:USDT"
    before = core.now_ms()
    plain = [order(f"race{i}", btc, Side.BUY, OrderKind.MARKET, "0.01") for i in range(3)]
    stops = [order(f"rstop{i}", btc, Side.SELL, OrderKind.STOP_MARKET, "0.01",
                   trigger_price=D(57000), reduce_only=True) for i in range(3)]  # fmt: skip
    await asyncio.gather(
        *(exchange.create_order(r) for pair in zip(plain, stops, strict=True) for r in pair)
    )

    for request in plain:
        deadline = one(served.venue.with_client_id(request.client_order_id)).extra["expTime"]
        assert deadline is not None, request.client_order_id
        assert before + 5000 <= int(deadline) <= core.now_ms() + 5000
    for request in stops:
        assert one(served.venue.with_client_id(request.client_order_id)).extra["expTime"] is None


# --- contracts --------------------------------------------------------------------------------


async def test_5000_doge_are_sent_as_5_contracts_and_counted_as_5000_doge(
    served: Served[okx.OkxVenue], exchange: CcxtExchange
) -> None:
    doge = "DOGE/USDT:USDT"
    market = (await exchange.markets())[doge]
    assert (market.contract_size, market.amount_step, market.min_amount) == (D(1000), D(10), D(10))

    status = await exchange.create_order(order("doge1", doge, Side.BUY, OrderKind.MARKET, "5000"))

    placed = one(served.venue.with_client_id("doge1"))
    assert (placed.amount, placed.filled) == (D(5), D(5))  # sz=5 contracts on the venue
    assert placed.cost == D(5) * 1000 * D("0.15001")  # 5,000 DOGE of notional
    assert status.amount == D(5000)
    read = await exchange.fetch_order(doge, status.order_id)
    assert (read.filled, read.average_price) == (D(5000), D("0.15001"))
    (position,) = await exchange.positions([doge])
    assert position.amount == D(5000)
    assert sum(f.amount for f in await exchange.fills_since(doge, _epoch())) == D(5000)
    with pytest.raises(InvalidOrder, match="minimum"):  # 0.001 contract: below a lot of 0.01
        await exchange.create_order(order("doge2", doge, Side.BUY, OrderKind.MARKET, "1"))


# --- OKX's refusals --------------------------------------------------------------------------


async def test_a_bad_signature_and_a_key_used_off_its_environment_are_refused(
    served: Served[okx.OkxVenue],
) -> None:
    refused = {}
    for wrong, code in [({"secret": "not-the-secret"}, "50113"),
                        ({"mode": "live"}, "50101"),  # no x-simulated-trading: 1
                        ({"password": "not-the-passphrase"}, "50105"),
                        ({"api_key": "not-the-key"}, "50111")]:  # fmt: skip
        async with adapter(served, **wrong) as exchange:
            with pytest.raises(AuthenticationFailed, match=code) as error:
                await exchange.balances()
        refused[code] = error.value.key
    # the key at fault, where the answer tells (a key of the other environment: not which)
    assert refused == {"50113": "api_secret", "50101": None, "50105": "api_password",
                       "50111": "api_key"}  # fmt: skip


async def test_a_duplicated_clordid_is_refused_with_51016(exchange: CcxtExchange) -> None:
    btc = "BTC/USDT"
    resting = order("dup1", btc, Side.BUY, OrderKind.LIMIT, "0.01", price=D(50000))
    first = await exchange.create_order(resting)
    assert first.state is OrderState.ACCEPTED

    with pytest.raises(InvalidOrder, match="51016"):
        await exchange.create_order(resting)


async def test_clordid_is_1_to_32_alphanumerics(raw: Any) -> None:
    for bad in ("a" * 33, "with-dash"):
        with pytest.raises(ccxt_errors.BadRequest, match="Parameter clOrdId error"):
            await raw.create_order("BTC/USDT", "limit", "buy", 0.01, 50000, {"clientOrderId": bad})
    await raw.create_order("BTC/USDT", "limit", "buy", 0.01, 50000, {"clientOrderId": "a" * 32})


async def test_funds_and_reduce_only_refusals(served: Served[okx.OkxVenue], raw: Any) -> None:
    with pytest.raises(ccxt_errors.InsufficientFunds):  # 51008
        await raw.create_order("BTC/USDT", "market", "buy", 1, None, {"clientOrderId": "big1"})
    with pytest.raises(ccxt_errors.ExchangeError, match="51169"):  # nothing to reduce
        await raw.create_order("BTC/USDT:USDT", "market", "sell", 1, None,
                               {"clientOrderId": "ro1", "reduceOnly": True})  # fmt: skip


# --- account: leverage, position mode, the trading account --------------------------------------


async def test_leverage_is_set_per_instrument_within_its_maximum(
    served: Served[okx.OkxVenue], exchange: CcxtExchange
) -> None:
    await exchange.set_leverage("BTC/USDT:USDT", D(5))
    assert served.venue.leverage["BTC-USDT-SWAP"] == 5
    with pytest.raises(Exception, match="59102"):
        await exchange.set_leverage("DOGE/USDT:USDT", D(100))  # DOGE's maximum: 75


async def test_the_position_mode_is_read_from_the_account_config(
    served: Served[okx.OkxVenue], raw: Any
) -> None:
    assert (await raw.fetch_position_mode())["hedged"] is False  # net_mode
    served.venue.hedge_mode = True
    assert (await raw.fetch_position_mode())["hedged"] is True  # long_short_mode
    with pytest.raises(ccxt_errors.BadRequest, match="posSide"):  # one-way orders refused
        await raw.create_order("BTC/USDT:USDT", "market", "buy", 1, None, {"clientOrderId": "h1"})


async def test_a_swap_s_margin_is_taken_from_the_trading_account(
    served: Served[okx.OkxVenue], exchange: CcxtExchange
) -> None:
    await exchange.set_leverage("BTC/USDT:USDT", D(2))
    before = (await exchange.balances())["USDT"]
    await exchange.create_order(order("swap1", "BTC/USDT:USDT", Side.BUY, OrderKind.MARKET, "0.1"))

    after = (await exchange.balances())["USDT"]
    margin = D("0.1") * D("60000.2") / 2
    fee = D("0.1") * D("60000.2") * okx.OkxVenue.FEE_RATE
    upl = D("0.1") * (D("60000.1") - D("60000.2"))  # marked at the mid: a tick's loss
    assert after.free == before.free - margin - fee
    assert after.used == margin + upl  # ccxt: eq (cash + upl) less availEq
    spot = one(served.venue.with_client_id("swap1"))
    assert spot.extra["tdMode"] == "cross"


# --- helpers ------------------------------------------------------------------------------------


def _entry(on: Deployment) -> Signal:
    return Signal(symbol=on.road.symbol, action=Action.BUY, source="tradingview:native",
                  quantity=on.road.amount, take_profits=(TakeProfit(price=on.price("1.04")),),
                  stop_loss=StopLoss(StopKind.PRICE, on.price("0.96")))  # fmt: skip


def one(orders: list[core.Order]) -> core.Order:
    assert len(orders) == 1, orders
    return orders[0]


def _count(venue: okx.OkxVenue, method: str, path: str) -> int:
    with venue.lock:
        return sum(1 for request in venue.requests if request == (method, path))


def _epoch() -> datetime:
    return datetime(2020, 1, 1, tzinfo=UTC)
