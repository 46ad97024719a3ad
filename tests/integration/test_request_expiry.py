"""A worker that dies while sending an entry leaves it recorded and unconfirmed. On the local fake
Binance through unmodified ccxt, whose requests expire (`recvWindow`), the monitor settles it as
gone once two of its own lookups spanning the expiry miss, sends nothing for it, and the symbol
takes entries again; with the expiry removed (as OKX, Kraken... have none) it stays in doubt.
And a holder whose Redis lease was not renewed in time sends nothing (issue 13 item 1)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import anyio
import pytest
import redis

from app.adapters.paper.exchange import PaperExchange
from app.adapters.redis.locks import RedisKeyLocks
from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg, OrderState, client_order_id
from app.domain.paper.venue import PaperVenue
from app.domain.signals import SignalStatus
from app.ports.errors import LeaseLapsed
from app.ports.execution import lock_key
from app.services.brackets.driver import BracketDriver
from app.services.brackets.misses import Misses
from tests.fake_binance import RunningFake
from tests.fakes_execution import MemoryExecutionStore
from tests.integration.test_execution_ccxt import ORDER, Deployment, buy_alert, deployed
from tests.paper_helpers import book
from tests.unit.test_request_expiry import CID, MARKET, recorded

pytestmark = pytest.mark.anyio
D = Decimal


class Clock:
    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


async def died_sending(deployment: Deployment) -> str:
    """A buy alert whose worker dies while its entry create hangs on the venue, which never
    acts on it: the entry is on record (saved before it was sent), unconfirmed."""
    venue = deployment.fake.venue
    venue.fail_next("POST", ORDER, "hang")
    async with anyio.create_task_group() as worker:
        worker.start_soon(deployment.send, buy_alert())
        while venue.count("POST", ORDER) == 0:  # noqa: ASYNC110 - the fake's thread counts
            await anyio.sleep(0.005)
        worker.cancel_scope.cancel()  # the worker ends mid-request, its lock let go
    [bracket] = deployment.store.open_brackets()
    entry = bracket.order(client_order_id(bracket.id, Leg.ENTRY))
    assert (entry.state, entry.order_id) == (OrderState.SUBMITTED, None)
    return bracket.id


@pytest.mark.parametrize("expiry", [True, False], ids=["binance", "no-expiry"])
async def test_an_entry_whose_worker_died_sending_is_gone_after_the_request_expiry(
    fake: RunningFake, sqlite_url: str, redis_url: str, expiry: bool
) -> None:
    async with deployed(fake, sqlite_url, redis_url, expiry=expiry) as deployment:
        clock = Clock()
        deployment.monitor.driver.misses = Misses(clock)
        window = deployment.monitor.venues["binance"].request_expiry_seconds
        assert window == (pytest.approx(0.4) if expiry else None)  # recvWindow 0.3 s + 0.1 s
        first = await died_sending(deployment)
        cid = client_order_id(first, Leg.ENTRY)

        await deployment.monitor.run_once()  # the monitor's first miss
        assert deployment.bracket(first).order(cid).state is OrderState.UNKNOWN  # in doubt
        clock.at += 0.25
        await deployment.monitor.run_once()  # inside the expiry: still in doubt
        assert deployment.bracket(first).order(cid).state is OrderState.UNKNOWN
        clock.at += 3600 if not expiry else 0.25
        await deployment.monitor.run_once()

        entry = deployment.bracket(first).order(cid)
        assert deployment.fake.venue.count("POST", ORDER) == 1  # the hung one: never re-sent
        assert deployment.on_venue(first, Leg.ENTRY) == []
        if not expiry:  # no bound on when the lost request may execute: an operator decides
            assert entry.state is OrderState.UNKNOWN
            assert deployment.bracket(first).state is BracketState.OPENING
            assert deployment.status(await deployment.send(buy_alert())) is SignalStatus.DENIED
            assert deployment.fake.venue.count("POST", ORDER) == 1
            return
        assert entry.state is OrderState.EXPIRED
        assert deployment.bracket(first).state in (BracketState.FAILED, BracketState.CLOSED)
        shown = deployment.signals.get(first)
        assert shown is not None
        settled = [s.detail or "" for s in shown.history if s.status == "doubt_resolved"]
        assert len(settled) == 1
        assert "settled as gone by its request expiry" in settled[0]

        second = await deployment.send(buy_alert())  # the symbol takes entries again
        assert deployment.status(second) is SignalStatus.EXECUTED
        (entry_order,) = deployment.on_venue(second, Leg.ENTRY)
        assert entry_order["status"] == "FILLED"
        assert deployment.on_venue(first, Leg.ENTRY) == []  # the dead worker's entry: never
        assert deployment.fake.venue.count("POST", ORDER) == 3  # hung, entry, stop-loss


def now() -> datetime:
    return datetime(2026, 12, 6, 12, tzinfo=UTC)


@pytest.mark.parametrize(("stalled", "sent"), [(30.5, False), (5.0, True)])
async def test_a_holder_whose_lease_was_not_renewed_in_time_sends_nothing(
    redis_url: str, stalled: float, sent: bool
) -> None:
    """The holder's clock moves past its lease while no renewal ran (a stalled process: the
    renewal task sleeps a third of the 30 s ttl): its create is refused after the save."""
    client = redis.Redis.from_url(redis_url)
    clock = Clock()
    locks = RedisKeyLocks(client, ttl_seconds=30, clock=clock)
    store = MemoryExecutionStore()
    driver = BracketDriver(store, now)
    paper = PaperExchange(PaperVenue("paper", [MARKET], {"USDT": D(50_000)}),
                          lambda symbol: book(bids="99.5x1", asks="100x1"), now)  # fmt: skip
    bracket = recorded()
    try:
        async with locks.hold(lock_key(bracket.account, bracket.symbol)) as fence:
            with store.batch(fence):
                clock.at += stalled
                if sent:
                    await driver.create(bracket, bracket.order(CID), paper)
                else:
                    with pytest.raises(LeaseLapsed):
                        await driver.create(bracket, bracket.order(CID), paper)
    finally:
        client.close()

    found = await paper.fetch_order_by_client_id("BTC/USDT", CID)
    assert (found is not None) is sent
    assert store.brackets[bracket.id].order(CID).state is OrderState.SUBMITTED  # on record
