"""The `worker` process: an RQ worker running the executor, on one event loop for its life.

Workers reach the paper venues through Redis (`RemotePaperExchange`) and ccxt venues directly,
all on one event loop per process kept for the process's life (ccxt and redis.asyncio clients are
bound to the loop that opened them; RQ would start a new loop per async job).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis
import redis.asyncio
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import Engine

from app.adapters.redis.locks import RedisKeyLocks
from app.adapters.sql.db import make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.system import SystemClock
from app.bootstrap.venues import async_redis, remote_venues, sync_redis, venue_modes
from app.config.settings import Settings, load_settings
from app.domain.signals import SignalStatus
from app.services.execution.executor import Executor

log = logging.getLogger("signalgate")


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
            modes=venue_modes(settings),
            clock=SystemClock().now,
            locks=RedisKeyLocks(sync_redis(settings.redis_url)),
            limits=settings.risk,
            sizing=settings.sizing,
            policy=settings.execution,
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


COMMAND_WAIT_SECONDS = 1.0


class SignalWorker(SimpleWorker):
    """Runs `workers.jobs` jobs in its own process, on one event loop.

    Not RQ's forking `Worker` (a fork per job costs ~29 ms and would lose the event loop, the
    ccxt sessions and the database pool between jobs) and not `HerokuWorker` (a forking worker
    too): a `SimpleWorker`, whose SIGTERM handling already is what Heroku needs: the first
    SIGTERM lets the running job finish (ours take milliseconds; Heroku waits 30 s before
    SIGKILL), then it exits. A job killed anyway is re-run by RQ and finds its orders by client
    order id.
    """

    def subscribe(self) -> None:
        """RQ's command channel, read by a thread that waits at most `COMMAND_WAIT_SECONDS` per
        read. RQ's own waits 60 s, and redis-py 8 joins that thread when the worker stops: a
        worker whose unsubscribe raced the thread's read took a minute to exit, longer than the
        30 s Heroku gives after SIGTERM."""
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=COMMAND_WAIT_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )


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
            # RQ adds its own (colourizing, stdout) handlers only when none is configured above
            # its loggers; with configure_logging's root handler it sets only their level.
            logging_level=settings.log_level,
        )
    )
