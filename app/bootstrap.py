"""Wiring: builds every adapter from Settings and hands them to the services.

The only module that imports both adapters and services. Tests build the same services over fakes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass, field

import redis
import redis.asyncio
from sqlalchemy import Engine

from app.adapters.db import SqlSignalStore, make_engine
from app.adapters.inbox_redis import RedisInbox, RedisInboxReader
from app.adapters.queue_rq import RqJobQueue
from app.adapters.system import SystemClock, new_ulid
from app.config import Settings
from app.intake import Intake, IntakePolicy, drain_spool, forward
from app.ports import Clock, SignalReader, Unavailable

log = logging.getLogger("signalgate")


def intake_policy(settings: Settings) -> IntakePolicy:
    return IntakePolicy(
        confidence_threshold=settings.confidence_threshold,
        strategy_thresholds=dict(settings.strategy_thresholds),
        confidence_required=settings.confidence_required,
        max_age_seconds=settings.signal_max_age_seconds,
        dedupe_window_seconds=settings.dedupe_window_seconds,
        dedupe_id_window_seconds=settings.dedupe_id_window_seconds,
        rate_limit_per_minute=settings.rate_limit_per_minute,
    )


@dataclass
class Forwarder:
    """A thread that moves the inbox into SQL and RQ, and re-queues the spool when Redis is back."""

    reader: RedisInboxReader
    store: SqlSignalStore
    queue: RqJobQueue
    clock: Clock
    policy: IntakePolicy
    spool_every_seconds: float = 1.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _parent: int | None = None

    def watch_parent(self, pid: int) -> None:
        """Stop when the process that started us is gone (uvicorn may exit by re-raising the
        signal it caught, which skips its caller's clean-up)."""
        self._parent = pid

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="forwarder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the batch in hand, then stop (safe from a signal handler)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def run(self) -> None:
        backoff = 0.2
        next_spool = 0.0
        while not self._stop.is_set():
            if self._parent is not None and os.getppid() != self._parent:
                log.info("forwarder: the web process is gone; stopping")
                return
            try:
                if time.monotonic() >= next_spool:
                    if drain_spool(self.store, self.queue, self.reader, self.clock, self.policy):
                        continue  # more may be waiting
                    next_spool = time.monotonic() + self.spool_every_seconds
                forward(self.reader, self.store, self.queue)
                backoff = 0.2
            except Unavailable as exc:
                log.warning("forwarder waiting %.1f s: %s", backoff, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                log.exception("forwarder error; retrying")
                self._stop.wait(1.0)


@dataclass
class Services:
    """What the web process needs, built from Settings."""

    settings: Settings
    engine: Engine
    signals: SqlSignalStore
    redis_url: str
    intake: Intake | None = None
    forwarder: Forwarder | None = None
    _async_redis: redis.asyncio.Redis | None = None

    @property
    def reader(self) -> SignalReader:
        return self.signals

    async def startup(self, *, run_forwarder: bool = True) -> None:
        """Open the event-loop-bound clients; start the forwarder thread."""
        self._async_redis = redis.asyncio.Redis.from_url(
            self.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        self.intake = Intake(
            inbox=RedisInbox(self._async_redis),
            store=self.signals,
            clock=SystemClock(),
            new_id=new_ulid,
            policy=intake_policy(self.settings),
        )
        if run_forwarder:
            self.forwarder = self.build_forwarder()
            self.forwarder.start()

    def build_forwarder(self) -> Forwarder:
        client = redis.Redis.from_url(
            self.redis_url, socket_timeout=5.0, socket_connect_timeout=1.0
        )
        return Forwarder(
            reader=RedisInboxReader(client),
            store=self.signals,
            queue=RqJobQueue(client, self.settings.queue_name),
            clock=SystemClock(),
            policy=intake_policy(self.settings),
        )

    async def shutdown(self) -> None:
        if self.forwarder is not None:
            self.forwarder.stop()
        if self._async_redis is not None:
            await self._async_redis.aclose()
        self.engine.dispose()

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state: "ok" or what is wrong."""
        checks: dict[str, str] = {}
        try:
            assert self._async_redis is not None
            await self._async_redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks["redis"] = f"unreachable ({type(exc).__name__})"
        try:
            await asyncio.to_thread(self.signals.ping)
            checks["database"] = "ok"
        except Unavailable as exc:
            checks["database"] = str(exc)
        return checks


def build_services(settings: Settings) -> Services:
    if settings.redis_url is None:
        raise RuntimeError("REDIS_URL is not set: run `signalgate run` or set REDIS_URL.")
    engine = make_engine(settings.database_url)
    return Services(
        settings=settings,
        engine=engine,
        signals=SqlSignalStore(engine),
        redis_url=settings.redis_url,
    )
