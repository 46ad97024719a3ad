"""Wiring of the execution side: the worker's runtime and the monitor process.

Like `app.bootstrap.web`, it builds adapters from Settings and hands them to the services.

- Workers reach the paper venues through Redis (`RemotePaperExchange`) and ccxt venues directly,
  all on one event loop per process kept for the process's life (ccxt and redis.asyncio clients
  are bound to the loop that opened them; RQ would start a new loop per async job).
- The monitor process hosts the paper venues (the one process that owns their state), feeds them
  every market data tick, serves the workers' requests, and runs the bracket monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import redis
import redis.asyncio
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import Engine

from app.adapters.paper.exchange import PAPER_CAPABILITIES, PaperExchange
from app.adapters.paper.remote import PaperHost, RemotePaperExchange
from app.adapters.redis.locks import RedisKeyLocks
from app.adapters.redis.ticks import TickPublisher
from app.adapters.sql.db import make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.system import SystemClock
from app.bootstrap.policies import execution_policy, risk_limits, sizing_policy
from app.bootstrap.venues import build_market_data, build_venues, ccxt_venue
from app.config.settings import Settings, load_settings
from app.domain.risk_values import TradingState
from app.domain.signals import SignalStatus
from app.ports.exchange import Exchange, MarketData
from app.services.brackets.driver import BracketDriver
from app.services.brackets.monitor import BracketMonitor
from app.services.execution.executor import Executor

log = logging.getLogger("signalgate")


def _modes(settings: Settings) -> dict[str, str]:
    return {venue.name: venue.mode.value for venue in settings.venues}


def _sync_redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10.0, socket_connect_timeout=2.0)


def async_redis(url: str, timeout: float = 10.0) -> redis.asyncio.Redis:
    # the paper client waits up to its own timeout for a reply: the socket must wait longer
    return redis.asyncio.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=2.0)


def remote_venues(
    settings: Settings, client: redis.asyncio.Redis, *, timeout_seconds: float = 5.0
) -> dict[str, Exchange]:
    """Every venue as a worker or the web process sees it: paper ones through the monitor.
    `client`'s socket timeout must be longer than `timeout_seconds`."""
    venues: dict[str, Exchange] = {}
    for venue in settings.venues:
        if venue.is_paper:
            venues[venue.name] = RemotePaperExchange(
                venue.name, client, capabilities=PAPER_CAPABILITIES, timeout_seconds=timeout_seconds
            )
        else:
            venues[venue.name] = ccxt_venue(venue)
    return venues


@dataclass
class WorkerRuntime:
    """One per worker process: the loop, the venues on it, and the executor."""

    settings: Settings
    engine: Engine
    runner: asyncio.Runner = field(default_factory=asyncio.Runner)
    executor: Executor | None = None

    def start(self) -> Executor:
        if self.executor is None:
            self.executor = self.runner.run(self._build())
        return self.executor

    async def _build(self) -> Executor:
        settings = self.settings
        assert settings.redis_url is not None
        return Executor(
            store=SqlExecutionStore(self.engine),
            venues=remote_venues(settings, async_redis(settings.redis_url)),
            modes=_modes(settings),
            clock=SystemClock().now,
            locks=RedisKeyLocks(_sync_redis(settings.redis_url)),
            limits=risk_limits(settings),
            sizing=sizing_policy(settings),
            policy=execution_policy(settings),
        )

    def execute(self, signal_ids: Sequence[str]) -> dict[str, SignalStatus]:
        executor = self.start()
        return self.runner.run(executor.execute_many(signal_ids))


def worker_runtime(settings: Settings) -> WorkerRuntime:
    if settings.redis_url is None:
        raise RuntimeError("REDIS_URL is not set: run `signalgate run` or set REDIS_URL.")
    return WorkerRuntime(settings, make_engine(settings.database_url, background_checkpoints=True))


_runtime: WorkerRuntime | None = None


def process_runtime(settings: Settings | None = None) -> WorkerRuntime:
    """This process's runtime, built on first use (the worker builds it before its first job;
    a job run elsewhere reads the settings itself)."""
    global _runtime  # noqa: PLW0603 - one runtime per worker process, by design
    if _runtime is None:
        _runtime = worker_runtime(settings or load_settings())
        _runtime.start()
    return _runtime


class SignalWorker(SimpleWorker):
    """Runs `workers.jobs` jobs in its own process, on one event loop.

    Not RQ's forking `Worker` (a fork per job costs ~29 ms and would lose the event loop, the
    ccxt sessions and the database pool between jobs) and not `HerokuWorker` (a forking worker
    too): a `SimpleWorker`, whose SIGTERM handling already is what Heroku needs: the first
    SIGTERM lets the running job finish (ours take milliseconds; Heroku waits 30 s before
    SIGKILL), then it exits. A job killed anyway is re-run by RQ and finds its orders by client
    order id.
    """


def run_worker(settings: Settings, *, burst: bool = False) -> bool:
    """Work the signals queue until stopped (or, with `burst`, until it is empty)."""
    assert settings.redis_url is not None
    process_runtime(settings)  # open the loop, the venues and the pool before the first job
    connection = redis.Redis.from_url(settings.redis_url)
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    worker = SignalWorker([queue], connection=connection, serializer=JSONSerializer)
    return bool(
        worker.work(
            burst=burst,
            with_scheduler=True,  # retries wait in the scheduler
            logging_level=settings.log_level,
        )
    )


async def run_monitor(settings: Settings, stop: asyncio.Event) -> None:
    """The monitor process: paper venues hosted and fed, and the bracket monitor, until `stop`."""
    assert settings.redis_url is not None
    engine = make_engine(settings.database_url, background_checkpoints=True)
    clock = SystemClock().now
    market_data = build_market_data(settings)
    venues = build_venues(settings, engine=engine, market_data=market_data, clock=clock)
    paper = {name: v for name, v in venues.items() if isinstance(v, PaperExchange)}
    client = async_redis(settings.redis_url)
    host = PaperHost(client, paper)
    store = SqlExecutionStore(engine)
    monitor = BracketMonitor(
        store=store,
        venues=venues,
        driver=BracketDriver(store, clock, close_unprotected=settings.close_unprotected),
        locks=RedisKeyLocks(_sync_redis(settings.redis_url)),
        interval_seconds=settings.monitor_interval_seconds,
    )
    log.info("monitor: hosting paper venues %s; watching brackets", ", ".join(paper) or "(none)")
    tasks = [
        asyncio.create_task(host.serve(stop), name="paper-host"),
        asyncio.create_task(
            _feed(market_data, host, TickPublisher(client), stop), name="market-data"
        ),
        asyncio.create_task(monitor.run(stop), name="bracket-monitor"),
    ]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await close_venues(venues)
        await client.aclose()
        engine.dispose()


async def _feed(
    market_data: MarketData, host: PaperHost, ticks: TickPublisher, stop: asyncio.Event
) -> None:
    async for tick in market_data.ticks():
        await host.on_tick(tick.symbol)
        await ticks.publish(tick)  # the strategy process trades on these same prices
        if stop.is_set():
            return


async def close_venues(venues: Mapping[str, Exchange]) -> None:
    for venue in venues.values():
        close = getattr(venue, "close", None)
        if close is not None:
            await close()


def set_trading_state(settings: Settings, state: TradingState, reason: str) -> None:
    """The kill switch, from the CLI."""
    engine = make_engine(settings.database_url)
    try:
        SqlExecutionStore(engine).set_trading_state(state, SystemClock().now(), reason)
    finally:
        engine.dispose()
