"""The `web` process: the services the HTTP edge calls, built from Settings (tests build the same
services over their own settings)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

import redis
import redis.asyncio
from sqlalchemy import Engine

from app.adapters.redis import venue_health
from app.adapters.redis.inbox import RedisInbox
from app.adapters.redis.lease import last_round
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.system import SystemClock, new_ulid
from app.config.settings import Settings
from app.domain.risk_values import TradingState
from app.ports.errors import Unavailable
from app.ports.exchange import Exchange
from app.ports.execution import ExecutionStore
from app.ports.metrics import MetricsSource
from app.ports.notifications import Notifier
from app.ports.reconciliation import ReconciliationStore
from app.ports.signals import SignalReader
from app.services.connections import Connections
from app.services.intake import Forwarder, Intake
from app.services.signal_lookup import SignalLookup
from app.services.trading import switch_trading


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

    @cached_property
    def lookup(self) -> SignalLookup:
        """One signal by id: from SQL, or from the inbox before the forwarder has moved it."""
        assert self._async_redis is not None, "call startup() first"
        return SignalLookup(self.signals, RedisInbox(self._async_redis))

    @cached_property
    def execution(self) -> ExecutionStore:
        """Brackets, orders and the trading state (read by the API; the kill switch)."""
        # Imported on first use, like the stores below: the web process answers sooner at start.
        from app.adapters.sql.execution_store import SqlExecutionStore  # noqa: PLC0415

        return SqlExecutionStore(self.engine)

    @cached_property
    def connections(self) -> Connections:
        """Venue accounts (`/connections`): stored ones, their keys sealed, and VENUES'."""
        from app.bootstrap.connections import build_connections  # noqa: PLC0415

        return build_connections(self.settings, self.engine)

    @cached_property
    def notifier(self) -> Notifier:
        """Where the kill switch's changes are told (the notifications queue, if any)."""
        from app.bootstrap.notifications import build_notifier  # noqa: PLC0415 - RQ: not at start

        return build_notifier(self.settings)

    def switch_trading(self, state: TradingState, reason: str) -> None:
        """The kill switch, on record and told (blocking: call it from a thread)."""
        switch_trading(self.execution, self.notifier, state, datetime.now(UTC), reason)

    @cached_property
    def reconciliation(self) -> ReconciliationStore:
        """What the monitor's reconciliation found (`GET /reconciliation`)."""
        from app.adapters.sql.reconciliation import SqlReconciliationStore  # noqa: PLC0415

        return SqlReconciliationStore(self.engine)

    @cached_property
    def venues(self) -> dict[str, Exchange]:
        """The venues for marking positions; built on the web process's event loop, on the first
        request that needs them: importing the venues (ccxt) would double the web process's start,
        and a restart refuses alerts until /health answers."""
        from app.bootstrap.venues import remote_venues  # noqa: PLC0415

        assert self._async_redis is not None, "call startup() first"
        return remote_venues(self.settings, self._async_redis, timeout_seconds=0.8)

    @cached_property
    def blocking_redis(self) -> redis.Redis:
        """A blocking Redis client of the web process's own (used from threads)."""
        return redis.Redis.from_url(self.redis_url, socket_timeout=5.0, socket_connect_timeout=1.0)

    @cached_property
    def metrics(self) -> MetricsSource:
        """The figures of `/metrics`."""
        from app.adapters.sql.metrics import SqlRedisMetrics  # noqa: PLC0415

        return SqlRedisMetrics(self.engine, self.blocking_redis, self.settings.queue_name)

    async def venue_states(self) -> dict[str, str]:
        """Each configured venue's circuit state as the workers and the monitor last saw it
        ("unknown": no live process has used it yet, or Redis cannot be read)."""
        try:
            seen = await asyncio.to_thread(venue_health.read, self.blocking_redis)
        except (redis.RedisError, OSError):
            seen = {}
        return {
            venue.name: seen[venue.name].state if venue.name in seen else "unknown"
            for venue in self.settings.venues
        }

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
            policy=self.settings.intake,
        )
        if run_forwarder:
            from app.bootstrap.forwarder import build_forwarder  # noqa: PLC0415 - RQ: not at start

            self.forwarder = build_forwarder(self.settings, self.signals)
            self.forwarder.start()

    async def shutdown(self) -> None:
        if self.forwarder is not None:
            self.forwarder.stop()
        if "notifier" in self.__dict__:
            from app.bootstrap.notifications import close_notifier  # noqa: PLC0415

            await asyncio.to_thread(close_notifier, self.notifier)
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
        checks["monitor"] = await self._monitor_check()
        return checks

    async def _monitor_check(self) -> str:
        """ "ok" unless the monitor's last finished round is older than 10 intervals.

        A deployment whose monitor never ran a round (no heartbeat yet) is not flagged: the web
        process may start first.
        """
        try:
            assert self._async_redis is not None
            last = await last_round(self._async_redis)
        except Exception as exc:  # noqa: BLE001 - Redis is reported on its own line
            return f"unknown: Redis unreachable ({type(exc).__name__})"
        limit = 10 * self.settings.monitor_interval_seconds
        if last is None or time.time() - last <= limit:
            return "ok"
        return (f"no monitor round has finished for {time.time() - last:.0f} s (over {limit:g} s): "
                "start `signalgate monitor` or read its logs.")  # fmt: skip


def build_services(settings: Settings) -> Services:
    if settings.redis_url is None:
        raise RuntimeError("REDIS_URL is not set: run `signalgate run` or set REDIS_URL.")
    engine = make_engine(settings.database_url, background_checkpoints=True)
    return Services(
        settings=settings,
        engine=engine,
        signals=SqlSignalStore(engine),
        redis_url=settings.redis_url,
    )
