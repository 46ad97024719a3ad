"""The road every venue is proven on: the worker's executor and the bracket monitor, over the
SQL store and Redis locks, trading through an `Exchange` adapter (unmodified ccxt where ccxt
has the venue) against the venue's local fake.

A venue joins by adding a `Road` to `ROADS` (tests/venues/roads.py) and its id to one of
tests/integration/test_venue_roads*.py; the scenarios live in tests/venues/road_scenarios.py and
read the fake's own orders (what the venue holds).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
import redis

from app.adapters.ccxt.calls import RetryPolicy
from app.adapters.ccxt.client import Mode
from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.redis.locks import RedisKeyLocks
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.brackets.bracket import Bracket
from app.domain.execution_policy import ExecutionPolicy
from app.domain.orders import Leg, client_order_id
from app.domain.risk_values import RiskLimits
from app.domain.signals import Signal, SignalRecord, SignalStatus
from app.domain.sizing import SizingPolicy
from app.ports.exchange import Exchange
from app.services.brackets.monitor import BracketMonitor
from app.services.execution.executor import Executor
from tests.venues.core import FakeVenue, MarketSpec, Order
from tests.venues.http import Served, serve

D = Decimal
FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, lookup_attempts=3, expiry_margin_seconds=0.1)
# the product's default timeout: the fakes answer at once, and an answer a test loses is lost by
# the fake (`FakeVenue.fail_next`). A short one lost answers to a stalled test process under
# load: a copy sent after a lost create that times out is, rightly, never sent again.
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Road:
    """One venue on the road: how to build its fake and its adapter, and what it trades."""

    name: str  # the venue's name in signalgate (a ccxt id, or a native adapter's)
    fake: Callable[[], FakeVenue]
    symbol: str  # unified: BTC/USDT (spot) or BTC/USDT:USDT (linear perpetual)
    market_id: str  # the fake's id of that market
    amount: Decimal  # coins per entry
    api_key: str
    secret: str
    password: str | None = None
    options: dict[str, object] = field(default_factory=dict)  # ccxt options for the test
    client_id_prefix: str = ""  # what the venue shows before our client order id
    mode: Mode = "testnet"  # "live" for a venue ccxt has no sandbox for
    id: str = ""  # the test id, where two roads share a venue's name (spot and swaps); name
    # ccxt's pause between requests; None: ccxt's own (Kraken's costs it 3 s a private read)
    rate_limit_ms: int | None = None
    # a native adapter (no ccxt): builds the Exchange from the fake's URL
    adapter: Callable[[Served[Any], RetryPolicy], Exchange] | None = None

    def exchange(self, served: Served[Any]) -> Exchange:
        if self.adapter is not None:
            return self.adapter(served, FAST)
        return CcxtExchange(
            self.name,
            mode=self.mode,
            api_key=self.api_key,
            secret=self.secret,
            password=self.password,
            base_url=served.url,
            timeout_ms=int(TIMEOUT_SECONDS * 1000),
            rate_limit_ms=self.rate_limit_ms,
            retry=FAST,
            options=self.options,
        )


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deployment:
    road: Road
    served: Served[Any]
    exchange: Exchange
    store: SqlExecutionStore
    signals: SqlSignalStore
    executor: Executor
    monitor: BracketMonitor
    ids: Iterator[str]
    base_before: Decimal = Decimal(0)  # the base asset the account held before the test

    @property
    def venue(self) -> FakeVenue:
        venue: FakeVenue = self.served.venue
        return venue

    @property
    def spec(self) -> MarketSpec:
        return self.venue.markets[self.road.market_id]

    async def send(self, signal: Signal) -> str:
        """Keep the signal as intake would and run it as the worker does."""
        signal_id = next(self.ids)
        record = SignalRecord(signal_id, now(), SignalStatus.QUEUED, signal, "native", signal_id)
        self.signals.add_many([record])
        await self.executor.execute(signal_id)
        return signal_id

    def bracket(self, signal_id: str) -> Bracket:
        bracket = self.store.bracket(signal_id)
        assert bracket is not None
        return bracket

    def status(self, signal_id: str) -> SignalStatus:
        pending = self.store.signal(signal_id)
        assert pending is not None
        return pending.status

    def on_venue(self, signal_id: str, leg: Leg, revision: int = 0, index: int = 0) -> list[Order]:
        """The fake's orders with the leg's client order id."""
        caps = self.exchange.capabilities
        cid = client_order_id(signal_id, leg, revision, index=index,
                              max_length=caps.client_order_id_max_length,
                              lowercase=caps.client_order_id_lowercase)  # fmt: skip
        return self.venue.with_client_id(self.road.client_id_prefix + cid)

    def coins(self, amount: Decimal) -> Decimal:
        """An amount in the venue's unit (contracts on a swap), in coins."""
        return amount * self.spec.contract_size

    def price(self, factor: str) -> Decimal:
        """The ask times `factor`, on the market's tick."""
        tick = self.spec.tick
        return (self.spec.ask * D(factor) / tick).quantize(D(1), ROUND_DOWN) * tick

    def held(self) -> Decimal:
        """What the venue holds for the account on the market since the test began, in coins
        (signed on a swap)."""
        if self.spec.swap:
            position = self.venue.positions.get(self.road.market_id)
            return self.coins(position.amount) if position else D(0)
        return self.venue.held(self.spec.base) - self.base_before

    def move(self, price: Decimal) -> None:
        """The book around `price`: one tick each side."""
        tick = self.spec.tick
        self.venue.set_price(self.road.market_id, price - tick, price + tick, price)


@asynccontextmanager
async def deployed(road: Road, served: Served[Any], database_url: str, redis_url: str, *,
                   policy: ExecutionPolicy | None = None,
                   leverages: Mapping[str, Decimal] | None = None,
                   wrap: Callable[[Exchange], Exchange] | None = None,
                   limits: RiskLimits | None = None,
                   ) -> AsyncIterator[Deployment]:  # fmt: skip
    """The road deployed; `policy`, `leverages` and `limits` as the worker's settings give them;
    `wrap`: the venue as the worker and the monitor see it (the adapter by default)."""
    engine = make_engine(database_url)
    store = SqlExecutionStore(engine)
    exchange = road.exchange(served)
    client = redis.Redis.from_url(redis_url)
    locks = RedisKeyLocks(client)
    venues = {road.name: exchange if wrap is None else wrap(exchange)}
    executor = Executor(
        store=store,
        venues=venues,
        modes={road.name: road.mode},
        clock=now,
        locks=locks,
        limits=limits or RiskLimits(),
        sizing=SizingPolicy(),
        policy=policy,
        leverages=leverages,
    )
    monitor = BracketMonitor(store=store, venues=venues, driver=executor.driver, locks=locks)
    ids = (f"01KB0000000000000000000{n:03d}" for n in itertools.count(1))
    before = served.venue.held(served.venue.markets[road.market_id].base)
    try:
        yield Deployment(road, served, exchange, store, SqlSignalStore(engine), executor,
                         monitor, ids, before)  # fmt: skip
    finally:
        close = getattr(exchange, "close", None)
        if close is not None:
            await close()
        client.close()
        engine.dispose()


# The fixtures `served` and `on` of a module of road tests (import them): its own `road` fixture
# names the roads it runs on.


@pytest.fixture(name="served")
def served_fixture(road: Road) -> Iterator[Served[Any]]:
    with serve(road.fake()) as running:
        yield running


@pytest.fixture(name="on")
async def on_fixture(
    road: Road, served: Served[Any], sqlite_url: str, redis_url: str
) -> AsyncIterator[Deployment]:
    async with deployed(road, served, sqlite_url, redis_url) as deployment:
        yield deployment
