"""`CcxtExchange` through real, unmodified ccxt against the local fake Binance."""

from __future__ import annotations

import decimal
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest

from app.adapters.ccxt.calls import RetryPolicy
from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.circuit import BreakerState, CircuitBreaker
from app.domain.orders import OrderKind, OrderRequest, OrderState, Side
from app.ports.errors import (
    AuthenticationFailed,
    InsufficientFunds,
    InvalidOrder,
    OutcomeUnknown,
    Retryable,
)
from tests.fake_binance import API_KEY, API_SECRET, RunningFake

pytestmark = pytest.mark.anyio

ORDER = "/api/v3/order"
FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, lookup_attempts=3, expiry_margin_seconds=0.1)


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def binance(
    fake: RunningFake, exchange_id: str = "binance", **overrides: Any
) -> AsyncIterator[CcxtExchange]:
    """The ccxt adapter for `exchange_id` on the fake, quick to give up (tests wait less)."""
    settings: dict[str, Any] = {
        "mode": "testnet",
        "api_key": API_KEY,
        "secret": API_SECRET,
        "base_url": fake.url,
        "timeout_ms": 500,
        "retry": FAST,
        "options": {"recvWindow": 300},
    } | overrides
    exchange = CcxtExchange(exchange_id, **settings)
    try:
        yield exchange
    finally:
        await exchange.close()


def market_buy(client_order_id: str, amount: str = "0.001") -> OrderRequest:
    return OrderRequest(client_order_id, "BTC/USDT", Side.BUY, OrderKind.MARKET, Decimal(amount))


async def test_markets_carry_the_venue_precision_and_minimums(fake: RunningFake) -> None:
    async with binance(fake) as exchange:
        markets = await exchange.markets()
        again = await exchange.markets()

    btc = markets["BTC/USDT"]
    assert (btc.base, btc.quote, btc.active) == ("BTC", "USDT", True)
    assert btc.amount_step == Decimal("0.00001")
    assert btc.price_step == Decimal("0.01")
    assert btc.min_amount == Decimal("0.00001")
    assert btc.min_cost == Decimal(5)
    assert markets["ETH/USDT"].amount_step == Decimal("0.0001")
    assert again is markets
    assert fake.venue.count("GET", "/api/v3/exchangeInfo") == 1  # cached


async def test_orders_are_placed_found_and_cancelled(fake: RunningFake) -> None:
    async with binance(fake) as exchange:
        filled = await exchange.create_order(market_buy("sg-market-1"))
        resting = await exchange.create_order(
            OrderRequest(
                "sg-limit-1",
                "BTC/USDT",
                Side.BUY,
                OrderKind.LIMIT,
                Decimal("0.002"),
                price=Decimal("40000.004"),
            )
        )
        by_id = await exchange.fetch_order("BTC/USDT", resting.order_id)
        by_client_id = await exchange.fetch_order_by_client_id("BTC/USDT", "sg-limit-1")
        missing = await exchange.fetch_order_by_client_id("BTC/USDT", "sg-nobody")
        open_orders = await exchange.open_orders("BTC/USDT")
        balances = await exchange.balances()
        cancelled = await exchange.cancel_order("BTC/USDT", resting.order_id)

    assert filled.state is OrderState.FILLED
    assert filled.client_order_id == "sg-market-1"
    assert filled.filled == Decimal("0.001")
    assert filled.average_price == Decimal(50010)
    assert resting.state is OrderState.ACCEPTED
    assert resting.price == Decimal(40000)  # rounded to the tick
    assert by_id == by_client_id
    assert by_id.client_order_id == "sg-limit-1"
    assert missing is None
    assert [o.order_id for o in open_orders] == [resting.order_id]
    assert balances["BTC"].free == Decimal("0.501")
    assert balances["USDT"].used == Decimal(80)  # locked by the resting buy
    assert cancelled.state is OrderState.CANCELLED
    assert fake.venue.orders_with_client_id("sg-limit-1")[0]["status"] == "CANCELED"


@pytest.mark.parametrize("fault", ["429", "503", "hang"])
async def test_reads_are_retried_until_the_venue_answers(fake: RunningFake, fault: str) -> None:
    async with binance(fake) as exchange:
        await exchange.markets()
        fake.venue.fail_next("GET", "/api/v3/depth", fault, count=2)
        book = await exchange.order_book("BTC/USDT", 5)

    assert book.best_ask == Decimal(50010)
    assert fake.venue.count("GET", "/api/v3/depth") == 3


async def test_a_read_that_keeps_failing_is_retryable(fake: RunningFake) -> None:
    async with binance(fake) as exchange:
        fake.venue.fail_next("GET", "/api/v3/account", "503", count=5)
        with pytest.raises(Retryable):
            await exchange.balances()

    assert fake.venue.count("GET", "/api/v3/account") == FAST.attempts


async def test_insufficient_funds_keep_the_venue_message(fake: RunningFake) -> None:
    async with binance(fake) as exchange:
        with pytest.raises(InsufficientFunds, match="insufficient balance"):
            await exchange.create_order(market_buy("sg-too-big", "1"))

    assert fake.venue.orders == {}


@pytest.mark.parametrize(
    ("amount", "price", "message"),
    [
        ("0.000001", None, "too small"),  # truncated to 0 by the precision
        ("0.00001", Decimal(40000), "order value .* below .* minimum of 5"),
        ("0.00001", Decimal("0.001"), "price 0.001 is too small"),
    ],
)
async def test_orders_below_the_minimums_are_refused_before_sending(
    fake: RunningFake, amount: str, price: Decimal | None, message: str
) -> None:
    kind = OrderKind.MARKET if price is None else OrderKind.LIMIT
    request = OrderRequest("sg-small", "BTC/USDT", Side.BUY, kind, Decimal(amount), price=price)
    async with binance(fake) as exchange:
        with pytest.raises(InvalidOrder, match=message):
            await exchange.create_order(request)

    assert fake.venue.count("POST", ORDER) == 0


async def test_an_unknown_symbol_is_an_invalid_order(fake: RunningFake) -> None:
    request = OrderRequest("sg-x", "DOGE/USDT", Side.BUY, OrderKind.MARKET, Decimal(1))
    async with binance(fake) as exchange:
        with pytest.raises(InvalidOrder, match="no market DOGE/USDT"):
            await exchange.create_order(request)


@pytest.mark.parametrize(
    ("key", "secret"), [("wrong-key", API_SECRET), (API_KEY, "wrong-secret")]
)  # fmt: skip
async def test_bad_credentials_fail_authentication(
    fake: RunningFake, key: str, secret: str
) -> None:
    async with binance(fake, api_key=key, secret=secret) as exchange:
        with pytest.raises(AuthenticationFailed):
            await exchange.balances()
        with pytest.raises(AuthenticationFailed):
            await exchange.create_order(market_buy("sg-auth"))

    assert fake.venue.orders == {}


@pytest.mark.parametrize("lookup_failures", [0, 1])
async def test_a_created_order_whose_answer_is_lost_is_found_not_duplicated(
    fake: RunningFake, lookup_failures: int
) -> None:
    async with binance(fake) as exchange:
        await exchange.markets()
        fake.venue.fail_next("POST", ORDER, "create_then_hang")
        fake.venue.fail_next("GET", ORDER, "503", count=lookup_failures)
        status = await exchange.create_order(market_buy("sg-lost-1"))

    orders = fake.venue.orders_with_client_id("sg-lost-1")
    assert len(orders) == 1
    assert status.order_id == str(orders[0]["orderId"])
    assert status.state is OrderState.FILLED
    assert fake.venue.count("POST", ORDER) == 1
    assert fake.venue.count("GET", ORDER) == 1 + lookup_failures


async def test_an_order_the_venue_never_got_is_sent_again_once_confirmed_absent(
    fake: RunningFake,
) -> None:
    async with binance(fake) as exchange:
        await exchange.markets()
        fake.venue.fail_next("POST", ORDER, "hang")  # lost before the venue acted on it
        status = await exchange.create_order(market_buy("sg-lost-2"))

    orders = fake.venue.orders_with_client_id("sg-lost-2")
    assert len(orders) == 1
    assert status.order_id == str(orders[0]["orderId"])
    assert fake.venue.count("POST", ORDER) == 2
    assert fake.venue.count("GET", ORDER) == 2  # not found, and not found after the expiry


async def test_ccxt_leaves_the_decimal_context_as_it_found_it(fake: RunningFake) -> None:
    """ccxt's decimal_to_precision sets the context it runs in to ROUND_HALF_UP, Underflow
    trapped, for good: the adapter runs ccxt in a context of its own, so the process's
    Decimals round as their own code says whether or not a venue was called."""
    decimal.setcontext(decimal.Context())  # as a process starts, whatever tests ran before
    async with binance(fake) as exchange:
        await exchange.markets()
        await exchange.create_order(market_buy("sg-context"))
        await exchange.order_book("BTC/USDT")
    context = decimal.getcontext()
    assert (context.rounding, context.traps[decimal.Underflow]) == (decimal.ROUND_HALF_EVEN, False)


async def test_a_copy_that_gets_no_answer_either_is_unknown_and_says_why(
    fake: RunningFake, caplog: pytest.LogCaptureFixture
) -> None:
    """The copy sent after the expiry may yet execute too: never a third create, and the
    copy's failure is in the log and in the error the caller keeps."""
    async with binance(fake) as exchange:
        await exchange.markets()
        fake.venue.fail_next("POST", ORDER, "503", count=2)  # the create and its copy
        with (
            caplog.at_level(logging.WARNING, logger="app.adapters.ccxt.lost_create"),
            pytest.raises(OutcomeUnknown, match="sent again") as unknown,
        ):
            await exchange.create_order(market_buy("sg-lost-5"))

    assert fake.venue.orders_with_client_id("sg-lost-5") == []
    assert fake.venue.count("POST", ORDER) == 2  # the create and one copy
    assert fake.venue.count("GET", ORDER) == 3  # not found before, after the expiry, after the copy
    assert isinstance(unknown.value.__cause__, Retryable)
    assert "binance create sg-lost-5 sent again got no answer" in caplog.text


async def test_when_the_lookup_never_answers_the_outcome_is_unknown(fake: RunningFake) -> None:
    async with binance(fake) as exchange:
        await exchange.markets()
        fake.venue.fail_next("POST", ORDER, "create_then_hang")
        fake.venue.fail_next("GET", ORDER, "503", count=10)
        with pytest.raises(OutcomeUnknown, match="reconcile"):
            await exchange.create_order(market_buy("sg-lost-3"))

    assert len(fake.venue.orders_with_client_id("sg-lost-3")) == 1
    assert fake.venue.count("POST", ORDER) == 1  # never sent again


async def test_the_circuit_opens_after_repeated_failures_and_half_opens_later(
    fake: RunningFake,
) -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(failure_threshold=3, cool_down_seconds=30, clock=clock)
    async with binance(fake, breaker=breaker, clock=clock) as exchange:
        await exchange.markets()
        fake.venue.fail_next("GET", "/api/v3/depth", "503", count=4)
        with pytest.raises(Retryable):
            await exchange.order_book("BTC/USDT")
        assert exchange.circuit_state is BreakerState.OPEN
        sent = fake.venue.count("GET", "/api/v3/depth")
        with pytest.raises(Retryable, match="circuit is open"):
            await exchange.order_book("BTC/USDT")
        with pytest.raises(Retryable, match="circuit is open"):
            await exchange.create_order(market_buy("sg-breaker"))
        assert fake.venue.count("GET", "/api/v3/depth") == sent  # nothing sent while open
        assert fake.venue.count("POST", ORDER) == 0

        clock.now += 30
        assert exchange.circuit_state is BreakerState.HALF_OPEN
        with pytest.raises(Retryable):
            await exchange.order_book("BTC/USDT")  # the probe fails: open again
        assert exchange.circuit_state is BreakerState.OPEN

        clock.now += 30
        book = await exchange.order_book("BTC/USDT")
        assert exchange.circuit_state is BreakerState.CLOSED

    assert book.best_bid == Decimal(49990)
    assert sent == 3


async def test_markets_unread_at_refresh_serve_the_last_ones_read(fake: RunningFake) -> None:
    clock = ManualClock()
    async with binance(fake, clock=clock, markets_ttl_seconds=60) as exchange:
        first = await exchange.markets()
        clock.now += 61  # stale: the next call refreshes, and the venue does not answer
        fake.venue.fail_next("GET", "/api/v3/exchangeInfo", "503", count=FAST.attempts)
        assert await exchange.markets() == first
        assert fake.venue.count("GET", "/api/v3/exchangeInfo") == 1 + FAST.attempts


async def test_markets_never_read_are_not_made_up(fake: RunningFake) -> None:
    async with binance(fake) as exchange:
        fake.venue.fail_next("GET", "/api/v3/exchangeInfo", "503", count=FAST.attempts)
        with pytest.raises(Retryable):
            await exchange.markets()
