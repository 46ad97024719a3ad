"""The `worker` process: an RQ worker running the executor, on one event loop for its life.

Workers reach the paper venues through Redis (`RemotePaperExchange`) and ccxt venues directly
(their order books from the monitor's streamed copies in Redis while fresh, `SharedBookVenue`),
the stored connections' as well as those of VENUES (read again before a job once 5 s old,
`StoredVenues`), all on one event loop per process kept for the process's life (ccxt and
redis.asyncio clients are bound to the loop that opened them; RQ would start a new loop per async
job).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import redis
from redis.exceptions import RedisError
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import Engine

from app.adapters.redis import venue_health
from app.adapters.redis.books import RedisSharedBooks
from app.adapters.redis.locks import RedisKeyLocks
from app.adapters.redis.reservations import RedisReservations
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.sql.reconciliation import SqlReconciliationStore
from app.adapters.system import SystemClock
from app.bootstrap.accounts import account_directory
from app.bootstrap.connections import build_connections
from app.bootstrap.database import process_engine
from app.bootstrap.notifications import build_notifier, close_notifier
from app.bootstrap.redis_clients import async_redis, sync_redis
from app.bootstrap.remote_venues import remote_venue, remote_venues
from app.bootstrap.rq_worker import SignalWorker, wait_for_redis
from app.bootstrap.stored_venues import StoredVenues
from app.bootstrap.venues import close_venues, shared_streamed, venue_modes
from app.config.settings import Settings, load_settings
from app.domain.signals import SignalStatus
from app.ports.exchange import Exchange
from app.ports.notifications import NoNotifier, Notifier
from app.services.execution.executor import Executor

log = logging.getLogger("signalgate")


@dataclass
class WorkerRuntime:
    """One per worker process: the loop, the venues on it, and the executor."""

    settings: Settings
    engine: Engine
    runner: asyncio.Runner = field(default_factory=asyncio.Runner)
    executor: Executor | None = None
    venues: dict[str, Exchange] = field(default_factory=dict)
    client: redis.Redis | None = None
    notifier: Notifier = field(default_factory=NoNotifier)
    stored: StoredVenues | None = None  # the stored connections' venues, read again as they change
    health: venue_health.ChangePublisher = field(
        default_factory=lambda: venue_health.ChangePublisher(venue_health.process_name("worker"))
    )

    def start(self) -> Executor:
        if self.executor is None:
            self.executor = self.runner.run(self._build())
        return self.executor

    async def _build(self) -> Executor:
        settings = self.settings
        assert settings.redis_url is not None
        client = self.client = sync_redis(settings.redis_url)
        paper_client = async_redis(settings.redis_url)
        # books of the venues the monitor streams: its shared copies while fresh (Redis), else REST
        shared = RedisSharedBooks(paper_client)
        self.venues = shared_streamed(settings, remote_venues(settings, paper_client), shared)
        modes = venue_modes(settings)
        self.stored = StoredVenues(
            build_connections(settings, self.engine), remote_venue(paper_client),
            venues=self.venues, modes=modes, shared=list(self.venues),
        )  # fmt: skip
        await self.stored.refresh()
        self.notifier = build_notifier(settings, self.engine)
        return Executor(
            store=SqlExecutionStore(self.engine),
            venues=self.venues,
            modes=modes,
            clock=SystemClock().now,
            locks=RedisKeyLocks(client),
            limits=settings.risk,
            sizing=settings.sizing,
            policy=settings.execution,
            holds=SqlReconciliationStore(self.engine),
            reservations=RedisReservations(client),
            leverages={venue.name: venue.leverage for venue in settings.venues},
            notifier=self.notifier,
            accounts=account_directory(settings, self.engine),
            venue_access=self.stored.access,
        )

    async def _execute(
        self,
        executor: Executor,
        ids: Sequence[str],
        keys: Mapping[str, tuple[str, str]] | None,
    ) -> dict[str, SignalStatus]:
        if self.stored is not None:
            await self.stored.refresh()  # a connection added, changed or disabled: seen here
        return await executor.execute_many(ids, keys)

    def execute(
        self, signal_ids: Sequence[str], keys: Mapping[str, tuple[str, str]] | None = None
    ) -> dict[str, SignalStatus]:
        executor = self.start()
        try:
            return self.runner.run(self._execute(executor, signal_ids, keys))
        finally:
            self._publish_health()

    def _publish_health(self) -> None:
        """The venues as this worker saw them (`/ready`, `/metrics`), when that changed; never
        fails the job."""
        assert self.client is not None
        try:
            self.health.publish(self.client, self.venues)
        except (RedisError, OSError) as error:
            log.warning("worker: venue health not published (%s)", error)

    def close(self) -> None:
        """Close the venues' sessions on their loop (ccxt and aiohttp log an error for each
        one left open at exit), then the loop and the pool."""
        if self.venues:
            self.runner.run(close_venues(self.venues))
        if self.stored is not None:
            self.runner.run(self.stored.close())
        self.runner.close()
        self.engine.dispose()
        close_notifier(self.notifier)


def worker_runtime(settings: Settings) -> WorkerRuntime:
    if settings.redis_url is None:
        raise RuntimeError("REDIS_URL is not set: run `signalgate run` or set REDIS_URL.")
    return WorkerRuntime(settings, process_engine(settings))


_runtime: WorkerRuntime | None = None


def process_runtime(settings: Settings | None = None) -> WorkerRuntime:
    """This process's runtime, built on first use (the worker builds it before its first job;
    a job run elsewhere reads the settings itself)."""
    global _runtime  # noqa: PLW0603 - one runtime per worker process, by design
    if _runtime is None:
        _runtime = worker_runtime(settings or load_settings())
        _runtime.start()
    return _runtime


def run_worker(settings: Settings, *, burst: bool = False) -> bool:
    """Work the signals queue until stopped (or, with `burst`, until it is empty)."""
    global _runtime  # noqa: PLW0603 - the process's runtime ends with it
    assert settings.redis_url is not None
    runtime = process_runtime(settings)  # the loop, the venues and the pool, before any job
    connection = redis.Redis.from_url(settings.redis_url)
    try:
        wait_for_redis(connection)  # a worker started during a Redis restart waits, not exits
        queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
        worker = SignalWorker([queue], connection=connection, serializer=JSONSerializer)
        return bool(
            worker.work(
                burst=burst,
                with_scheduler=True,  # retries wait in the scheduler
                # RQ adds its own (colourizing, stdout) handlers only when none is configured
                # above its loggers; with configure_logging's root handler it sets only their
                # level.
                logging_level=settings.log_level,
            )
        )
    finally:
        runtime.close()
        _runtime = None
