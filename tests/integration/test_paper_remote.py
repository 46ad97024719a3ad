"""Paper venues hosted in one task and traded on over the machine's real Redis."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest
import redis
import redis.asyncio

from app.adapters.circuit import BreakerState, CircuitBreaker
from app.adapters.paper import remote as remote_module
from app.adapters.paper.exchange import PAPER_CAPABILITIES, PaperExchange
from app.adapters.paper.remote import PaperHost, RemotePaperExchange
from app.adapters.paper.wire import BATCH, Envelope, Reply, encode, replies_decoder
from app.domain.market import Market, OrderBook
from app.domain.orders import OrderKind, OrderState, OrderStatus, Side
from app.domain.paper.venue import PaperVenue
from app.domain.risk_values import RiskLimits
from app.domain.sizing import SizingPolicy
from app.ports.errors import (
    Fatal,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    Retryable,
)
from app.ports.exchange import Balance
from app.ports.execution import NoLocks
from app.services.execution.executor import Executor
from tests.fakes_execution import MemoryExecutionStore
from tests.paper_helpers import SYMBOL, book, order

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

D = Decimal
NOW = datetime(2026, 1, 1, tzinfo=UTC)
MARKET = Market(SYMBOL, "BTC", "USDT", amount_step=D("0.001"), min_cost=D(10))
PREFIX = "test:paper"


class MovableFeed:
    def __init__(self, current: OrderBook) -> None:
        self.current = current

    def __call__(self, symbol: str) -> OrderBook:
        return self.current


@pytest.fixture
def feed() -> MovableFeed:
    return MovableFeed(book(bids="99.5x1 98x2", asks="100.25x1 101x2"))


@pytest.fixture
def venues(feed: MovableFeed) -> dict[str, PaperExchange]:
    """Two venues on one feed: `paper` (50,000 USDT, 1 BTC) and `paper2` (100 USDT)."""
    return {
        "paper": PaperExchange(
            PaperVenue("paper", [MARKET], {"USDT": D(50_000), "BTC": D(1)}), feed, lambda: NOW
        ),
        "paper2": PaperExchange(
            PaperVenue("paper2", [MARKET], {"USDT": D(100)}), feed, lambda: NOW
        ),
    }


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    connection = redis.asyncio.Redis.from_url(redis_url)
    yield connection
    await connection.aclose()


@pytest.fixture
def host(client: redis.asyncio.Redis, venues: dict[str, PaperExchange]) -> PaperHost:
    return PaperHost(client, venues, prefix=PREFIX)


@asynccontextmanager
async def serving(host: PaperHost) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(host.serve(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def remote(
    client: redis.asyncio.Redis,
    name: str = "paper",
    *,
    timeout: float = 2.0,
    breaker: CircuitBreaker | None = None,
) -> RemotePaperExchange:
    return RemotePaperExchange(
        name,
        client,
        capabilities=PAPER_CAPABILITIES,
        timeout_seconds=timeout,
        prefix=PREFIX,
        breaker=breaker,
    )


async def test_every_call_round_trips_with_exact_decimals(
    client: redis.asyncio.Redis, host: PaperHost, venues: dict[str, PaperExchange]
) -> None:
    local, venue = venues["paper"], remote(client)
    async with serving(host):
        bought = await venue.create_order(order(Side.BUY, OrderKind.MARKET, "1.5", client_id="sgM"))
        resting = await venue.create_order(
            order(Side.BUY, OrderKind.LIMIT, "0.123", price="90.05", client_id="sgL")
        )

        assert (bought.state, bought.average_price) == (OrderState.FILLED, D("100.5"))
        assert bought == await local.fetch_order(SYMBOL, bought.order_id)
        assert await venue.fetch_order(SYMBOL, bought.order_id) == bought
        assert await venue.fetch_order_by_client_id(SYMBOL, "sgM") == bought
        assert await venue.fetch_order_by_client_id(SYMBOL, "sgX") is None
        assert await venue.open_orders(SYMBOL) == [resting]
        assert await venue.open_orders() == [resting]
        fills = await venue.fills_since(SYMBOL, NOW)
        assert fills == await local.fills_since(SYMBOL, NOW)
        assert [(f.price, f.amount, f.fee) for f in fills] == [
            (D("100.25"), D(1), D("0.10025")),
            (D(101), D("0.5"), D("0.0505")),
        ]
        assert (await venue.balances())["BTC"] == Balance("BTC", D("2.5"), D(0))
        assert await venue.balances() == await local.balances()
        assert await venue.order_book(SYMBOL, 1) == book(bids="99.5x1", asks="100.25x1")
        assert await venue.markets() == {SYMBOL: MARKET}
        assert await venue.positions([SYMBOL]) == await venue.positions() == []  # spot only

        cancelled = await venue.cancel_order(SYMBOL, resting.order_id)
        assert cancelled.state is OrderState.CANCELLED
        assert await venue.open_orders(SYMBOL) == []
    assert venue.circuit_state is BreakerState.CLOSED


@pytest.mark.parametrize(
    ("request_args", "error"),
    [
        (
            {"side": Side.BUY, "kind": OrderKind.LIMIT, "amount": "600", "price": "100"},
            InsufficientFunds,
        ),
        ({"side": Side.BUY, "kind": OrderKind.MARKET, "amount": "0.001"}, InvalidOrder),
        (
            {"side": Side.BUY, "kind": OrderKind.MARKET, "amount": "1", "symbol": "ETH/USDT"},
            InvalidOrder,
        ),
    ],
)
async def test_venue_refusals_come_back_as_the_same_error_types(
    client: redis.asyncio.Redis,
    host: PaperHost,
    request_args: dict[str, object],
    error: type[Exception],
) -> None:
    venue = remote(client)
    async with serving(host):
        with pytest.raises(error) as raised:
            await venue.create_order(order(**request_args))  # type: ignore[arg-type]
        with pytest.raises(OrderNotFound, match="999"):
            await venue.fetch_order(SYMBOL, "999")
        with pytest.raises(InvalidOrder, match="spot"):
            await venue.set_leverage(SYMBOL, D(3))
    assert type(raised.value) is error
    assert str(raised.value)  # the venue's message travels
    assert venue.circuit_state is BreakerState.CLOSED  # a refusal is an answer


async def test_a_reused_client_order_id_is_an_invalid_order(
    client: redis.asyncio.Redis, host: PaperHost
) -> None:
    venue = remote(client)
    async with serving(host):
        await venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.2", client_id="sgD"))
        with pytest.raises(InvalidOrder):
            await venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.2", client_id="sgD"))


async def test_an_unknown_venue_is_fatal(client: redis.asyncio.Redis, host: PaperHost) -> None:
    async with serving(host):
        with pytest.raises(Fatal, match="no venue 'nowhere'"):
            await remote(client, "nowhere").balances()


async def test_without_a_host_reads_are_retryable_creates_unknown_and_the_circuit_opens(
    client: redis.asyncio.Redis, host: PaperHost
) -> None:
    breaker = CircuitBreaker(failure_threshold=3, cool_down_seconds=60)
    venue = remote(client, timeout=0.2, breaker=breaker)

    with pytest.raises(Retryable, match="monitor process"):
        await venue.order_book(SYMBOL)
    with pytest.raises(Retryable):
        await venue.cancel_order(SYMBOL, "1")
    assert venue.circuit_state is BreakerState.CLOSED
    with pytest.raises(OutcomeUnknown, match="client order id"):
        await venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.2", client_id="sgLost"))
    assert venue.circuit_state is BreakerState.OPEN

    started = time.monotonic()
    with pytest.raises(Retryable, match="circuit is open"):
        await venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.2", client_id="sgNext"))
    assert time.monotonic() - started < 0.1  # refused at once, nothing sent
    assert await client.llen(f"{PREFIX}:requests") == 0  # given-up requests were withdrawn

    async with serving(host):
        assert await remote(client).fetch_order_by_client_id(SYMBOL, "sgLost") is None


async def test_a_create_past_its_deadline_is_never_executed(
    client: redis.asyncio.Redis, host: PaperHost, venues: dict[str, PaperExchange]
) -> None:
    """Queued while the host was paused; the client gave up before the host took it."""
    late = order(Side.BUY, OrderKind.MARKET, "0.2", client_id="sgLate")
    envelope = Envelope("late", "paper", "create_order", msgspec.Raw(encode(late)), time.time())
    await client.rpush(f"{PREFIX}:requests", encode(envelope))
    await asyncio.sleep(0.01)
    balances_before = await venues["paper"].balances()

    async with serving(host):
        venue = remote(client)
        assert await venue.fetch_order_by_client_id(SYMBOL, "sgLate") is None
        assert await venue.balances() == balances_before
        assert await client.exists(f"{PREFIX}:reply:late") == 0


async def test_a_request_given_up_while_it_waits_leaves_its_reply_to_no_other_request(
    client: redis.asyncio.Redis, host: PaperHost
) -> None:
    """Its connection is closed, not handed to the next request while its BLPOP still waits on
    the server: the reply it gets later would be read as the next request's."""
    venue = remote(client)
    waiting = asyncio.create_task(venue.balances())  # no host yet: it waits
    await asyncio.sleep(0.1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    async with serving(host):  # the host answers the given-up request too, then the next ones
        for depth in (1, 2, 1):
            assert len((await venue.order_book(SYMBOL, depth)).bids) == depth


async def test_a_request_redis_refused_leaves_no_reply_waiting_for_the_next_request(
    client: redis.asyncio.Redis, host: PaperHost
) -> None:
    """Redis refuses the RPUSH (the list's key holds a string): the BLPOP sent with it still
    waits, so the connection is closed rather than reused, where its late nil would be read
    as the next request's answer."""
    venue = remote(client, timeout=0.3)
    await client.set(f"{PREFIX}:requests", "not a list")
    with pytest.raises(Retryable, match="WRONGTYPE"):
        await venue.balances()
    await client.delete(f"{PREFIX}:requests")

    async with serving(host):
        for depth in (1, 2, 1):
            assert len((await venue.order_book(SYMBOL, depth)).bids) == depth


async def test_concurrent_clients_get_their_own_replies(
    client: redis.asyncio.Redis, host: PaperHost, redis_url: str
) -> None:
    others = [redis.asyncio.Redis.from_url(redis_url) for _ in range(3)]
    try:
        async with serving(host):
            calls = [
                (remote(connection, name).balances(), name)
                for connection in [client, *others]
                for name in ("paper", "paper2")
                for _ in range(10)
            ]
            books = [remote(others[i % 3]).order_book(SYMBOL, 1 + i % 2) for i in range(40)]
            results = await asyncio.gather(*(call for call, _ in calls), *books)
    finally:
        for connection in others:
            await connection.aclose()

    for (_, name), balances in zip(calls, results, strict=False):
        assert ("BTC" in balances) == (name == "paper")
    for i, got in enumerate(results[len(calls) :]):
        assert len(got.bids) == 1 + i % 2  # type: ignore[union-attr]


async def test_a_resting_stop_fires_on_the_tick_after_the_book_moves(
    client: redis.asyncio.Redis,
    host: PaperHost,
    venues: dict[str, PaperExchange],
    feed: MovableFeed,
) -> None:
    venue = remote(client)
    async with serving(host):
        stop = await venue.create_order(
            order(Side.SELL, OrderKind.STOP_MARKET, "0.5", trigger="95", client_id="sgS")
        )
        assert stop.state is OrderState.ACCEPTED

        feed.current = book(bids="94x1", asks="94.5x1")
        assert venues["paper"].venue.order(stop.order_id).state is OrderState.ACCEPTED
        await host.on_tick(SYMBOL)
        assert venues["paper"].venue.order(stop.order_id).state is OrderState.FILLED

        fired = await venue.fetch_order(SYMBOL, stop.order_id)
        assert (fired.state, fired.average_price) == (OrderState.FILLED, D(94))


async def test_markets_are_cached_for_a_while(client: redis.asyncio.Redis, host: PaperHost) -> None:
    venue = remote(client, timeout=0.2)
    async with serving(host):
        first = await venue.markets()
    assert await venue.markets() == first  # host gone, cache answers


async def test_a_decoding_redis_client_is_refused(redis_url: str) -> None:
    connection = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses=False"):
        remote(connection)
    await connection.aclose()


async def test_calls_gathered_together_travel_as_one_request_each_with_its_own_answer(
    client: redis.asyncio.Redis, host: PaperHost, venues: dict[str, PaperExchange]
) -> None:
    """A signal's reads (its book, the balances, another symbol's mark) go out in the same
    turn of the event loop: one envelope, one round trip, and each call still gets its own
    result or its own error."""
    venue = remote(client)
    gathered = asyncio.gather(
        venue.order_book(SYMBOL, 1),
        venue.balances(),
        venue.fetch_order(SYMBOL, "999"),
        venue.order_book(SYMBOL, 2),
        return_exceptions=True,
    )
    await asyncio.sleep(0.1)  # no host yet: the calls wait in the host's list

    assert await client.llen(f"{PREFIX}:requests") == 1
    async with serving(host):
        first, balances, missing, second = await gathered
    assert isinstance(first, OrderBook)
    assert len(first.bids) == 1
    assert isinstance(second, OrderBook)
    assert len(second.bids) == 2
    assert balances == await venues["paper"].balances()
    assert isinstance(missing, OrderNotFound)
    assert venue.circuit_state is BreakerState.CLOSED


async def test_calls_gathered_without_a_host_each_fail_as_their_method_does(
    client: redis.asyncio.Redis,
) -> None:
    venue = remote(client, timeout=0.3)

    book, created = await asyncio.gather(
        venue.order_book(SYMBOL, 1),
        venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.01")),
        return_exceptions=True,
    )

    assert isinstance(book, Retryable)
    assert isinstance(created, OutcomeUnknown)
    assert "client order id" in str(created)
    assert await client.llen(f"{PREFIX}:requests") == 0  # withdrawn: it never runs


async def test_a_call_left_by_a_loop_that_stopped_holds_up_no_later_call(
    client: redis.asyncio.Redis, host: PaperHost
) -> None:
    """A loop that stops between a call and the turn that sends it (a SystemExit mid-job)
    leaves that call unsent; the calls of the next loop are sent all the same."""
    venue = remote(client)

    async def call_then_exit() -> None:
        left = asyncio.ensure_future(venue.order_book(SYMBOL, 1))
        left._log_destroy_pending = False  # type: ignore[attr-defined]  # lost with its loop
        await asyncio.sleep(0)  # the call is queued, its send is the next turn's
        raise SystemExit

    def in_another_loop() -> None:
        loop = asyncio.new_event_loop()
        try:
            with pytest.raises(SystemExit):
                loop.run_until_complete(call_then_exit())
        finally:
            loop.close()

    thread = threading.Thread(target=in_another_loop)
    thread.start()
    thread.join(5)

    async with serving(host):
        found = await asyncio.wait_for(venue.order_book(SYMBOL, 2), 3)
    assert len(found.bids) == 2


class HostBeforeBatch(PaperHost):
    """A monitor of the version before `batch` (a rolling deploy restarts the worker first):
    it runs every request as one call, and answers a batch as a method it does not have."""

    batches = 0

    async def _run(self, envelope: Envelope) -> Reply:
        self.batches += envelope.method == BATCH
        return await self._run_one(envelope)


async def test_a_host_without_batch_gets_each_call_alone_and_is_remembered(
    client: redis.asyncio.Redis, venues: dict[str, PaperExchange]
) -> None:
    """No signal fails on a deploy order: the calls the old host refused (it ran none of them)
    go again one by one, the create placed once, and the next calls go alone at once."""
    old, venue, local = (
        HostBeforeBatch(client, venues, prefix=PREFIX),
        remote(client),
        venues["paper"],
    )
    btc_before = (await local.balances())["BTC"].total

    async with serving(old):
        first, balances, created = await asyncio.gather(
            venue.order_book(SYMBOL, 1),
            venue.balances(),
            venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.2", client_id="sgDeploy")),
        )
        second, _ = await asyncio.gather(venue.order_book(SYMBOL, 2), venue.balances())

    assert (len(first.bids), len(second.bids)) == (1, 2)
    assert "USDT" in balances
    assert created.state is OrderState.FILLED
    assert (await local.balances())["BTC"].total == btc_before + D("0.2")  # placed once
    assert old.batches == 1  # remembered: the next calls were not batched
    assert venue.circuit_state is BreakerState.CLOSED


async def test_a_host_without_batch_is_asked_again_after_a_while(
    client: redis.asyncio.Redis, venues: dict[str, PaperExchange], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A monitor restarted with `batch` gets batches again."""
    monkeypatch.setattr(remote_module, "_ALONE_SECONDS", 0.0)
    old, venue = HostBeforeBatch(client, venues, prefix=PREFIX), remote(client)

    async with serving(old):
        for depth in (1, 2):
            book_read, _ = await asyncio.gather(venue.order_book(SYMBOL, depth), venue.balances())
            assert len(book_read.bids) == depth

    assert old.batches == 2


class HostMissingAReply(PaperHost):
    """A host whose batch answers one call fewer than it ran (a bug, or a version skew)."""

    async def _run_batch(self, envelope: Envelope) -> Reply:
        replies = replies_decoder.decode((await super()._run_batch(envelope)).result)
        return Reply(result=msgspec.Raw(encode(replies[1:])))


async def test_replies_that_do_not_match_their_calls_fail_every_call_of_the_batch(
    client: redis.asyncio.Redis, venues: dict[str, PaperExchange]
) -> None:
    """No call takes another's reply: every call of the batch fails as if its reply were lost;
    a create made in the same turn travelled alone and got its own."""
    host, venue = HostMissingAReply(client, venues, prefix=PREFIX), remote(client)
    async with serving(host):
        book_read, balances, created = await asyncio.gather(
            venue.order_book(SYMBOL, 1),
            venue.balances(),
            venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.2", client_id="sgOdd")),
            return_exceptions=True,
        )

    assert isinstance(book_read, Retryable)
    assert isinstance(balances, Retryable)
    assert isinstance(created, OrderStatus)
    assert created.state is OrderState.FILLED


async def test_order_changes_made_in_one_turn_travel_alone(
    client: redis.asyncio.Redis, host: PaperHost, venues: dict[str, PaperExchange]
) -> None:
    """Two keys' signals reach their entries in the same turn of a worker's loop: each create
    (and cancel) is a request of its own, so that neither key's reply waits for the other's
    order to be executed, while the reads of that turn still travel together."""
    venue = remote(client)
    gathered = asyncio.gather(
        venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.1", client_id="sgAlone1")),
        venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.1", client_id="sgAlone2")),
        venue.cancel_order(SYMBOL, "999"),
        venue.order_book(SYMBOL, 1),
        venue.balances(),
        return_exceptions=True,
    )
    await asyncio.sleep(0.1)  # no host yet: the requests wait in the host's list

    assert await client.llen(f"{PREFIX}:requests") == 4  # 2 creates, a cancel, 1 batch of reads
    async with serving(host):
        first, second, cancel, book_read, balances = await gathered
    assert isinstance(first, OrderStatus)
    assert isinstance(second, OrderStatus)
    assert (first.state, second.state) == (OrderState.FILLED, OrderState.FILLED)
    assert isinstance(cancel, OrderNotFound)
    assert isinstance(book_read, OrderBook)
    assert "USDT" in balances  # type: ignore[operator]


class HostOfAnotherRelease(PaperHost):
    """A host that answers an order's status in a shape this client cannot read (a monitor of
    another release, mid-deploy): it runs the call, then wraps the status in a list."""

    async def _run_one(self, envelope: Envelope) -> Reply:
        reply = await super()._run_one(envelope)
        if envelope.method not in {"create_order", "fetch_order"} or reply.error is not None:
            return reply
        return Reply(result=msgspec.Raw(encode([reply.result])))


async def test_a_create_whose_result_cannot_be_read_is_unknown_and_found_by_its_client_id(
    client: redis.asyncio.Redis, venues: dict[str, PaperExchange]
) -> None:
    """The host may have placed it: never a decode error the caller could take for a refusal
    and send again, but OutcomeUnknown, and its client order id finds the one order placed."""
    host, venue = HostOfAnotherRelease(client, venues, prefix=PREFIX), remote(client)
    btc_before = (await venues["paper"].balances())["BTC"].total

    async with serving(host):
        with pytest.raises(OutcomeUnknown, match="client order id"):
            await venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.2", client_id="sgSkew"))
        found = await venue.fetch_order_by_client_id(SYMBOL, "sgSkew")

    assert found is not None
    assert found.state is OrderState.FILLED
    assert (await venues["paper"].balances())["BTC"].total == btc_before + D("0.2")  # once


async def test_a_read_whose_result_cannot_be_read_is_retryable(
    client: redis.asyncio.Redis, venues: dict[str, PaperExchange]
) -> None:
    placed = await venues["paper"].create_order(
        order(Side.BUY, OrderKind.MARKET, "0.2", client_id="sgRead")
    )
    host, venue = HostOfAnotherRelease(client, venues, prefix=PREFIX), remote(client)

    async with serving(host):
        with pytest.raises(Retryable, match="could not be read"):
            await venue.fetch_order(SYMBOL, placed.order_id)
        assert len((await venue.order_book(SYMBOL, 1)).bids) == 1  # other reads still answer


async def test_a_signals_quotes_reach_the_host_before_the_account_is_read(
    client: redis.asyncio.Redis, host: PaperHost, redis_url: str
) -> None:
    """The executor asks the venues for a signal's book and balances, then reads the account
    from the database, a synchronous call that holds the loop: the request must be in Redis by
    then, or the venue and the database are waited for one after the other."""
    venue = remote(client)
    async with serving(host):
        await venue.markets()  # kept for a while: the quotes ask only the book and balances
    executor = Executor(store=MemoryExecutionStore(), venues={"paper": venue},
                        modes={"paper": "paper"}, clock=lambda: NOW, locks=NoLocks(),
                        limits=RiskLimits(), sizing=SizingPolicy())  # fmt: skip
    queued = redis.Redis.from_url(redis_url)
    try:
        await executor._ctx.quote_early("default", SYMBOL)
        asked = queued.llen(f"{PREFIX}:requests")  # what a blocking read would find sent
        await executor._ctx.drop_early("default", SYMBOL)
    finally:
        queued.close()
    assert asked == 1  # the book and the balances, one batch
