"""Kraken spot beyond the road (tests/integration/test_venue_roads.py): the monitor reading back
and cancelling the leg it rests, the signature and nonce checks, Kraken's client-order-id rules,
the quirk of issue 14 (ccxt's kraken reads `stopLossPrice`, never `triggerPrice`), the lookup
by client id over open and closed orders, the create deadline and the venue's refusals. Through
real, unmodified ccxt against the local fake (tests/venues/kraken.py)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import msgspec
import pytest

from app.adapters.ccxt import profiles
from app.adapters.ccxt.exchange import CcxtExchange
from app.domain.orders import Leg, OrderKind, OrderRequest, OrderState, Side, client_order_id
from app.ports.errors import AuthenticationFailed, Fatal
from app.services.venue_check import check_venue
from tests.integration.test_venue_roads import entry
from tests.venues import core, kraken
from tests.venues.http import Served, serve
from tests.venues.road import FAST, deployed
from tests.venues.roads import ROADS

pytestmark = pytest.mark.anyio
D = Decimal
ROAD = next(road for road in ROADS if road.name == "kraken")
SYMBOL, PAIR = "BTC/USDT", "XBTUSDT"
WINDOW_MS = 2500  # the create deadline's distance in these tests (Kraken takes 2 to 60 s)


@pytest.fixture
def served() -> Iterator[Served[kraken.KrakenSpot]]:
    with serve(kraken.fake()) as running:
        yield running


@asynccontextmanager
async def adapter(
    served: Served[kraken.KrakenSpot], **overrides: Any
) -> AsyncIterator[CcxtExchange]:
    settings: dict[str, Any] = {
        "mode": "live",  # ccxt has no Kraken sandbox
        "api_key": kraken.API_KEY,
        "secret": kraken.SECRET,
        "base_url": served.url,
        "timeout_ms": 500,
        "rate_limit_ms": 1,
        "retry": FAST,
        "options": {"recvWindow": WINDOW_MS},
    } | overrides
    exchange = CcxtExchange("kraken", **settings)
    try:
        yield exchange
    finally:
        await exchange.close()


@asynccontextmanager
async def plain_ccxt(served: Served[kraken.KrakenSpot]) -> AsyncIterator[Any]:
    """ccxt's kraken itself, pointed at the fake, without signalgate's adapter."""
    client = ccxt_async.kraken({"apiKey": kraken.API_KEY, "secret": kraken.SECRET,
                                "rateLimit": 1})  # fmt: skip
    client.urls["api"] = {"public": served.url, "private": served.url}
    try:
        yield client
    finally:
        await client.close()


def request(cid: str, kind: OrderKind, side: Side = Side.BUY, amount: str = "0.001",
            price: str | None = None, trigger: str | None = None) -> OrderRequest:  # fmt: skip
    return OrderRequest(cid, SYMBOL, side, kind, D(amount),
                        price=D(price) if price else None,
                        trigger_price=D(trigger) if trigger else None)  # fmt: skip


def sent(venue: kraken.KrakenSpot, endpoint: str) -> list[dict[str, str]]:
    return [params for name, params in venue.received if name == endpoint]


def resting_buy(venue: kraken.KrakenSpot, cid: str) -> core.Order:
    """An order placed on the venue by someone else (another worker, a person)."""
    return venue.place(core.Order(venue.txid("O"), cid, PAIR, "buy", core.LIMIT, D("0.001"),
                                  price=D(50_000), extra={"ordertype": "limit"}))  # fmt: skip


# --- the monitor and the legs ---------------------------------------------------------------


async def test_the_monitor_reads_back_and_cancels_the_stop_loss_it_rests(
    served: Served[kraken.KrakenSpot], sqlite_url: str, redis_url: str
) -> None:
    async with deployed(ROAD, served, sqlite_url, redis_url) as on:
        signal_id = await on.send(entry(on))
        (stop,) = on.on_venue(signal_id, Leg.STOP_LOSS)
        (placed,) = [p for p in sent(on.venue, "AddOrder") if p["cl_ord_id"] == stop.client_id]
        assert (placed["ordertype"], D(placed["price"])) == ("stop-loss", on.price("0.96"))
        assert "triggerPrice" not in placed
        queried = len(sent(on.venue, "QueryOrders"))

        await on.monitor.run_once()
        assert [p["txid"] for p in sent(on.venue, "QueryOrders")[queried:]] == [stop.id]

        on.move(on.price("1.05"))  # the watched take-profit is reached: sold, the stop cancelled
        await on.monitor.run_once()
        await on.monitor.run_once()

        assert [p["txid"] for p in sent(on.venue, "CancelOrder")] == [stop.id]
        assert stop.status == core.CANCELED
        booked = {o.leg: o for o in on.bracket(signal_id).orders}[Leg.STOP_LOSS]
        assert (booked.order_id, booked.state) == (stop.id, OrderState.CANCELLED)


async def test_a_cancel_is_read_back_since_kraken_answers_a_count(
    served: Served[kraken.KrakenSpot],
) -> None:
    async with adapter(served) as exchange:
        placed = await exchange.create_order(request("sgcancel1", OrderKind.LIMIT, price="50000"))
        cancelled = await exchange.cancel_order(SYMBOL, placed.order_id)

    assert sent(served.venue, "CancelOrder")[0]["txid"] == placed.order_id
    assert (cancelled.order_id, cancelled.state) == (placed.order_id, OrderState.CANCELLED)
    assert cancelled.client_order_id == "sgcancel1"


# --- signatures and nonces ------------------------------------------------------------------


async def test_a_wrong_key_or_signature_is_refused_with_kraken_s_errors(
    served: Served[kraken.KrakenSpot],
) -> None:
    other = "b3RoZXIgc2VjcmV0"  # valid base64, not the key's secret
    async with adapter(served, secret=other) as exchange:
        # ccxt maps no class to it: a Fatal the adapter knows names the secret
        with pytest.raises(Fatal, match="EAPI:Invalid signature") as signature:
            await exchange.balances()
    assert isinstance(signature.value, AuthenticationFailed)
    assert signature.value.key == "api_secret"
    async with adapter(served, api_key="nobody") as exchange:
        with pytest.raises(AuthenticationFailed, match="EAPI:Invalid key") as key:
            await exchange.balances()
    assert key.value.key == "api_key"


def post(served: Served[kraken.KrakenSpot], signed: dict[str, Any], path: str) -> Any:
    sent_to = urllib.request.Request(served.url + path, signed["body"].encode(),
                                     signed["headers"], method="POST")  # fmt: skip
    with urllib.request.urlopen(sent_to, timeout=5) as answer:
        return json.loads(answer.read())


def test_the_signature_covers_the_path_and_a_nonce_is_taken_once(
    served: Served[kraken.KrakenSpot],
) -> None:
    client = ccxt.kraken({"apiKey": kraken.API_KEY, "secret": kraken.SECRET})
    client.urls["api"] = {"public": served.url, "private": served.url}
    signed = client.sign("BalanceEx", ["private"], "POST", {})

    assert post(served, signed, "/0/private/OpenOrders")["error"] == ["EAPI:Invalid signature"]
    assert post(served, signed, "/0/private/BalanceEx")["error"] == []
    assert post(served, signed, "/0/private/BalanceEx")["error"] == ["EAPI:Invalid nonce"]


async def test_a_create_refused_for_its_nonce_is_looked_up_and_sent_again_once(
    served: Served[kraken.KrakenSpot],
) -> None:
    """Another process trading the same key signed later and was heard first (Kraken's nonce
    window of 0): the create was not executed, and is sent again after its deadline."""
    venue = served.venue
    venue.before_next("create", lambda: setattr(venue, "last_nonce", core.now_ms()))
    async with adapter(served) as exchange:
        placed = await exchange.create_order(request("sgnonce", OrderKind.MARKET))

    (order,) = venue.with_client_id("sgnonce")
    assert (placed.order_id, order.status) == (order.id, core.FILLED)
    assert venue.count("create") == 2


# --- client order ids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cid", "taken"),
    [
        (client_order_id("01KB0000000000000000000001", Leg.ENTRY), False),  # signalgate's 36
        ("sg" + "x" * 17, False),  # 19 characters of text
        ("has space", False),
        (client_order_id("01KB0000000000000000000001", Leg.ENTRY, max_length=18), True),
        ("6d1b345e-2821-40e2-ad83-4ecb18a06876", True),  # a long UUID: 36 is fine there
        ("da8e4ad59b78481c93e589746b0cf91f", True),  # a short UUID
    ],
)
async def test_a_client_id_is_a_uuid_or_up_to_18_characters_of_text(
    served: Served[kraken.KrakenSpot], cid: str, *, taken: bool
) -> None:
    async with plain_ccxt(served) as client:
        if taken:
            await client.create_order(SYMBOL, "limit", "buy", 0.001, 50000, {"clientOrderId": cid})
        else:
            with pytest.raises(ccxt.ExchangeError, match="EGeneral:Invalid arguments:cl_ord_id"):
                await client.create_order(SYMBOL, "limit", "buy", 0.001, 50000,
                                          {"clientOrderId": cid})  # fmt: skip

    assert len(served.venue.with_client_id(cid)) == int(taken)


def test_the_profile_shortens_signalgate_s_ids_to_kraken_s_length() -> None:
    length = profiles.VENUES["kraken"].capabilities.client_order_id_max_length
    assert length == 18
    for leg in Leg:
        cid = client_order_id("01KB0000000000000000000001", leg, 3, max_length=length)
        assert kraken.valid_client_id(cid)


async def test_a_client_id_taken_by_an_open_order_is_refused_and_free_once_it_closes(
    served: Served[kraken.KrakenSpot],
) -> None:
    async with adapter(served) as exchange:
        first = await exchange.create_order(request("sgtwice", OrderKind.LIMIT, price="50000"))
        with pytest.raises(Fatal, match="cl_ord_id not unique"):
            await exchange.create_order(request("sgtwice", OrderKind.LIMIT, price="50001"))
        await exchange.cancel_order(SYMBOL, first.order_id)
        again = await exchange.create_order(request("sgtwice", OrderKind.LIMIT, price="50002"))

    assert again.order_id != first.order_id
    assert [o.status for o in served.venue.with_client_id("sgtwice")] == [core.CANCELED, core.OPEN]


async def test_a_resent_create_refused_as_a_duplicate_returns_the_order_that_has_the_id(
    served: Served[kraken.KrakenSpot],
) -> None:
    """The create is lost (a 5xx) and not found twice, a deadline apart; before the copy goes
    out, someone else's order takes the id: the copy's refusal is looked up, not an error."""
    venue = served.venue
    venue.fail_next("create", "5xx")

    def before_the_copy() -> None:
        venue.before_next("create", lambda: resting_buy(venue, "sgrace"))

    venue.before_next("create", before_the_copy)  # the lost one; then the copy
    async with adapter(served) as exchange:
        found = await exchange.create_order(request("sgrace", OrderKind.LIMIT, price="50000"))

    (resting,) = venue.with_client_id("sgrace")
    assert (found.order_id, found.state) == (resting.id, OrderState.ACCEPTED)
    assert venue.count("create") == 2


# --- the quirk of issue 14: ccxt's kraken reads stopLossPrice only --------------------------


@pytest.mark.parametrize(
    ("param", "ordertype", "status"),
    [("triggerPrice", "market", core.FILLED), ("stopLossPrice", "stop-loss", core.OPEN)],
)
async def test_the_stop_loss_rests_only_when_sent_as_stop_loss_price(
    served: Served[kraken.KrakenSpot],
    monkeypatch: pytest.MonkeyPatch,
    param: str,
    ordertype: str,
    status: str,
) -> None:
    profile = msgspec.structs.replace(profiles.VENUES["kraken"], stop_loss_param=param)
    monkeypatch.setitem(profiles.VENUES, "kraken", profile)
    async with adapter(served) as exchange:
        await exchange.create_order(request("sgbuy", OrderKind.MARKET))
        await exchange.create_order(request("sgstop", OrderKind.STOP_MARKET, Side.SELL,
                                            trigger="57600"))  # fmt: skip

    (stop,) = served.venue.with_client_id("sgstop")
    assert sent(served.venue, "AddOrder")[-1]["ordertype"] == ordertype
    assert stop.status == status  # with triggerPrice, the coins are sold at once
    assert profiles.VENUES["kraken"].stop_loss_param == param
    monkeypatch.undo()
    assert profiles.VENUES["kraken"].stop_loss_param == "stopLossPrice"  # what signalgate sends


# --- the lookup by client order id ----------------------------------------------------------


async def test_the_lookup_by_client_id_finds_open_filled_and_cancelled_orders(
    served: Served[kraken.KrakenSpot],
) -> None:
    async with adapter(served) as exchange:
        bought = await exchange.create_order(request("sgfilled", OrderKind.MARKET))
        stop = await exchange.create_order(request("sgopen", OrderKind.STOP_MARKET, Side.SELL,
                                                   amount="0.0005", trigger="57600"))  # fmt: skip
        limit = await exchange.create_order(request("sggone", OrderKind.LIMIT, price="50000"))
        await exchange.cancel_order(SYMBOL, limit.order_id)
        for n in range(60):  # more closed orders than ClosedOrders' page of 50, all newer
            order = resting_buy(served.venue, f"sgother{n}")
            served.venue.cancel(order)
        found = {cid: await exchange.fetch_order_by_client_id(SYMBOL, cid)
                 for cid in ("sgfilled", "sgopen", "sggone", "sgnobody")}  # fmt: skip

    assert found["sgfilled"] is not None
    assert (found["sgfilled"].order_id, found["sgfilled"].state) == (bought.order_id,
                                                                     OrderState.FILLED)  # fmt: skip
    assert found["sgopen"] is not None
    assert (found["sgopen"].order_id, found["sgopen"].state) == (stop.order_id,
                                                                 OrderState.ACCEPTED)  # fmt: skip
    assert found["sggone"] is not None
    assert found["sggone"].state is OrderState.CANCELLED
    assert found["sgnobody"] is None


# --- the create deadline and the venue's refusals -------------------------------------------


async def test_every_create_carries_a_deadline_and_one_past_it_is_refused(
    served: Served[kraken.KrakenSpot],
) -> None:
    async with adapter(served) as exchange:
        before = datetime.now(UTC)
        await exchange.create_order(request("sgdeadline", OrderKind.LIMIT, price="50000"))
    deadline = datetime.fromisoformat(sent(served.venue, "AddOrder")[0]["deadline"])
    assert 2 <= (deadline - before).total_seconds() <= WINDOW_MS / 1000 + 1

    async with plain_ccxt(served) as client:
        with pytest.raises(ccxt.ExchangeError, match="EService:Deadline elapsed"):
            await client.create_order(SYMBOL, "limit", "buy", 0.001, 50000,
                                      {"clientOrderId": "sglate",
                                       "deadline": "2026-01-01T00:00:00Z"})  # fmt: skip
    assert served.venue.with_client_id("sglate") == []


@pytest.mark.parametrize(
    ("amount", "price", "error", "message"),
    [
        (0.00004, 50000, ccxt.InvalidOrder, "EOrder:Order minimum not met"),
        (0.00005, 5, ccxt.ExchangeError, "EOrder:Cost minimum not met"),
        (0.001, 50000.05, ccxt.ExchangeError, "price can only be specified up to 1 decimals"),
        (1, 50000, ccxt.InsufficientFunds, "EOrder:Insufficient funds"),
    ],
)
async def test_the_venue_refuses_what_its_pairs_and_balances_do_not_allow(
    served: Served[kraken.KrakenSpot], amount: float, price: float, error: type, message: str
) -> None:
    async with plain_ccxt(served) as client:
        await client.load_markets()
        client.markets[SYMBOL]["precision"]["price"] = 0.01  # past ccxt's own rounding
        with pytest.raises(error, match=message):
            await client.create_order(SYMBOL, "limit", "buy", amount, price)

    assert served.venue.orders == {}


async def test_balances_and_markets_read_as_kraken_lists_them(
    served: Served[kraken.KrakenSpot],
) -> None:
    async with adapter(served) as exchange:
        await exchange.create_order(request("sgbought", OrderKind.MARKET))
        await exchange.create_order(request("sgheld", OrderKind.STOP_MARKET, Side.SELL,
                                            trigger="57600"))  # fmt: skip
        balances = await exchange.balances()
        market = (await exchange.markets())[SYMBOL]

    assert (balances["BTC"].free, balances["BTC"].used) == (D(0), D("0.001"))  # XXBT, held
    assert balances["USDT"].total < 10_000
    assert (market.price_step, market.amount_step) == (D("0.1"), D("0.00000001"))
    assert (market.min_amount, market.min_cost) == (D("0.00005"), D("0.5"))


async def test_the_start_check_reads_kraken_s_clock_markets_and_balance(
    served: Served[kraken.KrakenSpot],
) -> None:
    async with adapter(served) as exchange:
        report = await check_venue("kraken", exchange)

    assert report.ok, report.line()
    assert "balance read (USDT 10000)" in report.facts
    assert any(fact.startswith("clock skew") for fact in report.facts)  # public Time
