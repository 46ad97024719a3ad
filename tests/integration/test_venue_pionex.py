"""Pionex beyond the road (tests/integration/test_venue_roads.py): its adapter against the local
fake of its REST API (tests/venues/pionex.py). Nothing protective rests on Pionex (its API has
LIMIT and MARKET orders only): the monitor watches both legs and fires them at market, and the
only order it reads back and cancels is a resting limit entry. Also: a refused signature, a
stale timestamp, a reused client order id, market buys sized by their quote amount, the lost
create's wait, a cancel that lost the race, and `VENUES=pionex` from the settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy

from app.adapters.pionex.exchange import PionexExchange
from app.adapters.pionex.http import Duplicate
from app.adapters.retry import RetryPolicy
from app.adapters.sql.db import make_engine
from app.bootstrap.venue_check import check_venues
from app.bootstrap.venues import VenueSetupError, build_market_data, build_venues
from app.config.settings import load_settings
from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg, OrderKind, OrderRequest, OrderState, Side
from app.domain.signals import Action, OrderType, Signal, StopKind, StopLoss, TakeProfit
from app.ports.errors import (
    AuthenticationFailed,
    Fatal,
    InvalidOrder,
    OutcomeUnknown,
    Retryable,
)
from tests.venues import core
from tests.venues.http import Served, serve
from tests.venues.pionex import API_KEY, API_SECRET, ROAD, FakePionex, btc_usdt, road_fake
from tests.venues.road import Deployment, deployed

pytestmark = pytest.mark.anyio
D = Decimal
FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, lookup_attempts=3, expiry_margin_seconds=0.1)
SECRET = "a-webhook-secret-long-enough-for-live-mode"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def served() -> Iterator[Served[FakePionex]]:
    with serve(road_fake()) as running:
        yield running


def adapter(served: Served[FakePionex], **options: Any) -> PionexExchange:
    values: dict[str, Any] = {
        "api_key": API_KEY, "secret": API_SECRET, "base_url": served.url,
        "timeout_seconds": 0.5, "retry": FAST, "timestamp_window_seconds": 1.0,
        "weight_per_second": 0,
    }  # fmt: skip
    values.update(options)
    return PionexExchange(**values)


@pytest.fixture
async def pionex(served: Served[FakePionex]) -> AsyncIterator[PionexExchange]:
    async with adapter(served) as exchange:
        yield exchange


@pytest.fixture
async def on(served: Served[FakePionex], sqlite_url: str, redis_url: str
             ) -> AsyncIterator[Deployment]:  # fmt: skip
    async with deployed(ROAD, served, sqlite_url, redis_url) as deployment:
        yield deployment


def buy(cid: str, amount: str = "0.01", kind: OrderKind = OrderKind.MARKET,
        **terms: Any) -> OrderRequest:  # fmt: skip
    return OrderRequest(cid, "BTC/USDT", Side.BUY, kind, D(amount), **terms)


def alert(on: Deployment, **terms: Any) -> Signal:
    return Signal(
        symbol="BTC/USDT",
        action=Action.BUY,
        source="tradingview:native",
        quantity=D("0.01"),
        take_profits=(TakeProfit(price=on.price("1.04")),),
        stop_loss=StopLoss(StopKind.PRICE, on.price("0.96")),
        **terms,
    )


# --- the monitor and the venue's orders ---------------------------------------------------------


async def test_nothing_rests_and_the_monitor_fires_the_watched_stop_at_market(
    on: Deployment,
) -> None:
    signal_id = await on.send(alert(on))
    assert [o.status for o in on.venue.orders.values()] == [core.FILLED]  # the entry alone
    assert await on.exchange.open_orders("BTC/USDT") == []
    on.move(on.price("0.97"))  # above the stop: the monitor reads the book, does nothing
    assert await on.monitor.run_once() == 0
    assert on.venue.count("create") == 1

    on.move(on.price("0.95"))
    await on.monitor.run_once()

    fired = on.venue.with_client_id(on.bracket(signal_id).orders[-1].client_order_id)
    assert [(o.kind, o.side, o.status, o.filled) for o in fired] == [
        (core.MARKET, "sell", core.FILLED, D("0.01"))
    ]
    bracket = on.bracket(signal_id)
    assert (bracket.orders[-1].leg, bracket.orders[-1].state) == (Leg.STOP_LOSS, OrderState.FILLED)
    assert bracket.state is BracketState.CLOSED
    assert on.held() == 0


async def test_the_monitor_reads_back_and_cancels_the_resting_entry_it_placed(
    on: Deployment,
) -> None:
    signal_id = await on.send(alert(on, order_type=OrderType.LIMIT,
                                    limit_price=on.price("0.99")))  # fmt: skip
    (placed,) = on.on_venue(signal_id, Leg.ENTRY)
    assert (placed.kind, placed.status) == (core.LIMIT, core.OPEN)
    fetches = on.venue.count("fetch")
    assert await on.monitor.run_once() == 0
    assert on.venue.count("fetch") == fetches + 1  # GET /api/v1/trade/order, by its id

    await on.send(Signal(symbol="BTC/USDT", action=Action.CLOSE, source="tradingview:native"))

    assert on.venue.count("cancel") == 1  # DELETE /api/v1/trade/order
    assert placed.status == core.CANCELED
    assert on.bracket(signal_id).state is BracketState.FAILED
    assert await on.exchange.open_orders("BTC/USDT") == []


async def test_a_cancel_that_lost_the_race_to_a_fill_reads_the_fill_back(
    pionex: PionexExchange, served: Served[FakePionex]
) -> None:
    """Pionex refuses to cancel a closed order (TRADE_OPERATION_DENIED): the adapter reads the
    order back and reports it filled."""
    resting = await pionex.create_order(buy("sg-race", kind=OrderKind.LIMIT, price=D(64_000)))
    served.venue.fill_partially("sg-race", D("0.01"))

    status = await pionex.cancel_order("BTC/USDT", resting.order_id)

    assert (status.state, status.filled) == (OrderState.FILLED, D("0.01"))


# --- signatures, timestamps, client order ids ---------------------------------------------------


async def test_a_refused_signature_or_key_is_an_authentication_failure(
    served: Served[FakePionex],
) -> None:
    async with adapter(served, secret="not-the-secret") as wrong:
        with pytest.raises(AuthenticationFailed, match="INVALID_SIGNATURE") as signature:
            await wrong.balances()
        assert wrong.error_counts == {"AuthenticationFailed": 1}  # /metrics
    async with adapter(served, api_key="nobody") as unknown:
        with pytest.raises(AuthenticationFailed, match="INVALID_APIKEY") as key:
            await unknown.balances()
    assert (signature.value.key, key.value.key) == ("api_secret", "api_key")
    assert served.venue.creates == []


async def test_a_timestamp_outside_the_window_is_refused(served: Served[FakePionex]) -> None:
    async with adapter(served, wall_ms=lambda: core.now_ms() - 5_000) as late:
        with pytest.raises(Fatal, match="INVALID_TIMESTAMP"):
            await late.create_order(buy("sg-late"))
    assert served.venue.orders == {}


async def test_a_reused_client_order_id_is_refused_and_places_nothing(
    pionex: PionexExchange, served: Served[FakePionex]
) -> None:
    await pionex.create_order(buy("sg-once"))
    with pytest.raises(Duplicate, match="TRADE_REPEAT_CLIENT_ORDER_ID"):
        await pionex.create_order(buy("sg-once"))
    assert len(served.venue.with_client_id("sg-once")) == 1
    found = await pionex.fetch_order_by_client_id("BTC/USDT", "sg-once")
    assert found is not None
    assert found.state is OrderState.FILLED


async def test_a_client_order_id_pionex_does_not_take_is_refused(
    pionex: PionexExchange,
) -> None:
    with pytest.raises(InvalidOrder, match="TRADE_PARAMETER_ERROR"):
        await pionex.create_order(buy("sg_underscores_are_not_allowed"))
    assert pionex.capabilities.client_order_id_max_length == 64


# --- what Pionex's orders are -------------------------------------------------------------------


async def test_a_market_buy_is_sent_as_its_quote_amount_at_the_best_ask(
    pionex: PionexExchange, served: Served[FakePionex]
) -> None:
    status = await pionex.create_order(buy("sg-buy", "0.0123456789"))
    (order,) = served.venue.with_client_id("sg-buy")
    ask = served.venue.books["BTC_USDT"][1]
    assert order.extra["amount"] == D("0.012345") * ask  # the size truncated to 6 decimals
    assert (status.state, status.filled, status.amount) == (
        OrderState.FILLED, D("0.012345"), D("0.0123456789"),
    )  # fmt: skip


async def test_stop_and_take_profit_orders_are_refused_before_anything_is_sent(
    pionex: PionexExchange, served: Served[FakePionex]
) -> None:
    for kind in (OrderKind.STOP_MARKET, OrderKind.TAKE_PROFIT_MARKET):
        with pytest.raises(InvalidOrder, match="LIMIT and MARKET orders only"):
            await pionex.create_order(buy("sg-stop", kind=kind, trigger_price=D(60_000)))
    assert served.venue.count("create") == 0
    assert pionex.capabilities.stop_market is False


async def test_precision_and_minimums_are_applied_before_sending(
    pionex: PionexExchange, served: Served[FakePionex]
) -> None:
    placed = await pionex.create_order(
        buy("sg-lim", "0.0100009", kind=OrderKind.LIMIT, price=D("64000.005"))
    )
    (order,) = served.venue.with_client_id("sg-lim")
    assert (order.amount, order.price) == (D("0.010000"), D("64000.01"))
    assert placed.state is OrderState.ACCEPTED
    with pytest.raises(InvalidOrder, match="below pionex's minimum of 10 USDT"):
        await pionex.create_order(buy("sg-small", "0.0001", kind=OrderKind.LIMIT,
                                      price=D(64_000)))  # fmt: skip
    assert served.venue.count("create") == 1


async def test_open_orders_are_listed_one_symbol_at_a_time(pionex: PionexExchange) -> None:
    with pytest.raises(InvalidOrder, match="one symbol at a time"):
        await pionex.open_orders()
    assert await pionex.open_orders("BTC/USDT") == []


async def test_a_read_that_gets_a_429_is_retried(
    pionex: PionexExchange, served: Served[FakePionex]
) -> None:
    placed = await pionex.create_order(buy("sg-read"))
    served.venue.fail_next("fetch", "429")
    status = await pionex.fetch_order("BTC/USDT", placed.order_id)
    assert status.state is OrderState.FILLED
    assert served.venue.count("fetch") == 3  # the create's read back, the 429, the retry
    assert pionex.error_counts == {"Retryable": 1}
    assert pionex.circuit_state == "closed"


async def test_a_lost_create_is_sent_again_only_after_twice_the_timestamp_window(
    served: Served[FakePionex],
) -> None:
    """A 5xx before Pionex's API saw the order: not found, the adapter waits until the lost
    request could no longer execute (a timestamp may be up to the window ahead of the venue's
    clock as well as behind it), asks again and sends the copy once."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0)

    served.venue.fail_next("create", "5xx")
    async with adapter(served, sleep=sleep) as pionex:
        status = await pionex.create_order(buy("sg-lost"))
        assert pionex.request_expiry_seconds == pytest.approx(2.1)

    assert status.state is OrderState.FILLED
    assert served.venue.creates == ["sg-lost", "sg-lost"]
    assert len(served.venue.with_client_id("sg-lost")) == 1
    assert max(waits) == pytest.approx(2.1, abs=0.2)


async def test_a_copy_that_gets_no_answer_either_is_unknown_and_says_why(
    served: Served[FakePionex], caplog: pytest.LogCaptureFixture
) -> None:
    """The copy sent after the expiry may yet execute too: never a third create, and the
    copy's failure is in the log and in the error the caller keeps."""

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0)

    served.venue.fail_next("create", "5xx", count=2)  # the create and its copy
    async with adapter(served, sleep=sleep) as pionex:
        with (
            caplog.at_level(logging.WARNING, logger="app.adapters.pionex.exchange"),
            pytest.raises(OutcomeUnknown, match="sent again") as unknown,
        ):
            await pionex.create_order(buy("sg-copy-lost"))

    assert served.venue.creates == ["sg-copy-lost", "sg-copy-lost"]  # never a third
    assert served.venue.with_client_id("sg-copy-lost") == []
    assert isinstance(unknown.value.__cause__, Retryable)
    assert "pionex create sg-copy-lost sent again got no answer" in caplog.text


async def test_the_lost_create_waits_from_when_the_order_left_not_from_the_throttle(
    served: Served[FakePionex],
) -> None:
    """The throttle holds the create back 2 s before it is stamped and sent: the copy is sent
    twice the window after the first one left, not after the create was asked for."""
    now = [0.0]
    stamps: list[float] = []  # the clock when each signed request was stamped

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        await asyncio.sleep(0)

    def wall_ms() -> int:
        stamps.append(now[0])
        return core.now_ms()

    served.venue.fail_next("create", "5xx")
    async with adapter(served, weight_per_second=2, clock=lambda: now[0], sleep=sleep,
                       wall_ms=wall_ms) as pionex:  # fmt: skip
        await pionex.markets()  # weight 5: the bucket of 2 is 3 short
        await pionex.create_order(buy("sg-throttled", kind=OrderKind.LIMIT, price=D(64_000)))

    signed = [r for r in served.venue.requests if r[1] != "/api/v1/common/symbols"]
    sent = [at for at, request in zip(stamps, signed, strict=True) if request[0] == "POST"]
    assert sent[0] == pytest.approx(2.0)  # held back by the throttle
    assert sent[1] - sent[0] == pytest.approx(2.1)  # twice the 1 s window, and the margin
    assert len(served.venue.with_client_id("sg-throttled")) == 1


async def test_a_create_that_could_not_connect_was_not_sent_and_is_not_looked_up() -> None:
    """Connection refused: the request never left, so there is nothing to look up; the caller
    may send it elsewhere."""
    with serve(btc_usdt()) as gone:
        pionex = adapter(gone)
        await pionex.markets()
    async with pionex:  # the venue's port is closed now
        with pytest.raises(Retryable, match="could not be reached") as refused:
            await pionex.create_order(buy("sg-nowhere", kind=OrderKind.LIMIT, price=D(64_000)))
    assert refused.value.__cause__ is None
    assert gone.venue.count("fetch") == 0


# --- from the settings --------------------------------------------------------------------------


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[sqlalchemy.Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def pionex_settings(url: str, mode: str = "live") -> dict[str, str]:
    return {
        "TRADING_MODE": "live", "WEBHOOK_SECRET": SECRET, "VENUES": "pionex",
        "PIONEX_MODE": mode, "PIONEX_API_KEY": API_KEY, "PIONEX_API_SECRET": API_SECRET,
        "PIONEX_API_URL": url, "SYMBOLS": "BTC/USDT",
    }  # fmt: skip


async def test_venues_pionex_trades_through_the_native_adapter(engine: sqlalchemy.Engine) -> None:
    with serve(btc_usdt()) as fake:
        settings = load_settings(pionex_settings(fake.url))
        feed = build_market_data(settings, paced=False)
        venues = build_venues(settings, engine=engine, market_data=feed, clock=lambda: NOW)
        pionex = venues["pionex"]
        assert isinstance(pionex, PionexExchange)
        try:
            placed = await pionex.create_order(buy("sg-settings"))
            assert placed.state is OrderState.FILLED
            assert (await pionex.balances())["BTC"].free == D("0.01")
        finally:
            await pionex.close()


async def test_pionex_has_no_testnet(engine: sqlalchemy.Engine) -> None:
    settings = load_settings(pionex_settings("http://127.0.0.1:9", mode="testnet"))
    feed = build_market_data(settings, paced=False)
    with pytest.raises(VenueSetupError, match="PIONEX_MODE=testnet: Pionex has no testnet"):
        build_venues(settings, engine=engine, market_data=feed, clock=lambda: NOW)


async def test_venues_check_asks_pionex_through_its_adapter() -> None:
    """`signalgate venues check` and the start of a worker or the monitor build the venue as the
    worker does, and read its markets, balance and clock."""
    with serve(btc_usdt(BTC=D("0.5"))) as fake:
        (report,) = await check_venues(load_settings(pionex_settings(fake.url)))
    assert report.ok, report.line()
    line = report.line()
    assert line.startswith("pionex: ok - 1 markets; balance read (USDT 100000, BTC 0.5); clock")
    assert "; permissions not told by the venue; " in line
