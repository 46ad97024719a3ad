"""The `web` process: the services the HTTP edge calls, built from Settings (tests build the same
services over their own settings)."""

from __future__ import annotations

import asyncio
import importlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

import redis
import redis.asyncio

from app.adapters.redis import venue_health
from app.adapters.redis.forwarder_beat import last_beat
from app.adapters.redis.inbox import RedisInbox
from app.adapters.redis.lease import last_round
from app.adapters.system import SystemClock, new_ulid
from app.bootstrap.lazy_sql import LazySql
from app.config.settings import Settings
from app.domain.heartbeats import heartbeat_state
from app.domain.risk_values import TradingState
from app.ports.errors import Unavailable
from app.ports.exchange import Exchange
from app.ports.execution import ExecutionStore
from app.ports.metrics import MetricsSource
from app.ports.notifications import Notifier, SummarySource
from app.ports.reconciliation import ReconciliationStore
from app.ports.signals import SignalReader
from app.services.accounts import AccountDirectory, Accounts
from app.services.connections import Connections
from app.services.intake import Forwarder, Intake
from app.services.signal_lookup import SignalLookup
from app.services.trading import switch_trading

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.domain.notify_view import ChannelView
    from app.services.account_channels import AccountNotifications

# A forwarder beats every second: one silent for longer than this is dead, or hangs in a call.
FORWARDER_STALE_SECONDS = 5.0
# The monitor's heartbeat is its last finished round: stale after this many intervals (or
# FORWARDER_STALE_SECONDS, whichever is longer: a round takes a few venue round trips).
MONITOR_STALE_ROUNDS = 10


@dataclass
class Services:
    """What the web process needs, built from Settings. SQL is built on first use (`LazySql`)."""

    settings: Settings
    signals: LazySql
    redis_url: str
    intake: Intake | None = None
    forwarder: Forwarder | None = None
    _async_redis: redis.asyncio.Redis | None = None
    _venues: dict[str, Exchange] | None = None  # `marking_venues`

    @property
    def reader(self) -> SignalReader:
        return self.signals

    @property
    def engine(self) -> Engine:
        """The process's SQL engine (imports SQLAlchemy on the first call, unless warmed up)."""
        return self.signals.engine

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

    @property
    def directory(self) -> AccountDirectory:
        """The accounts each strategy's alerts fan out to (read by intake, cached; built with
        the SQL store)."""
        return self.signals.directory

    @cached_property
    def accounts(self) -> Accounts:
        """Accounts and subscriptions (`/accounts`, `/subscriptions`); a change is seen by this
        process's intake at once, an account's trading state told."""
        from app.bootstrap.accounts import build_accounts  # noqa: PLC0415

        return build_accounts(self.settings, self.engine, self.directory, self.notifier)

    @cached_property
    def account_channels(self) -> AccountNotifications:
        """Accounts' own notification channels (`PATCH /accounts/{name}`'s notify fields)."""
        from app.bootstrap.accounts import build_account_notifications  # noqa: PLC0415

        return build_account_notifications(self.settings, self.engine, self.accounts)

    @cached_property
    def notifier(self) -> Notifier:
        """Where the kill switch's changes are told (the notifications queue, if any)."""
        from app.bootstrap.notifications import build_notifier  # noqa: PLC0415 - RQ: not at start

        return build_notifier(self.settings, self.engine)

    def switch_trading(self, state: TradingState, reason: str) -> None:
        """The kill switch, on record and told (blocking: call it from a thread)."""
        switch_trading(self.execution, self.notifier, state, datetime.now(UTC), reason)

    @cached_property
    def channel_services(self) -> tuple[str | None, ...]:
        """Each notification channel's service (apprise: loaded by the first page showing them)."""
        from app.adapters.notify.channels import service_names  # noqa: PLC0415

        return service_names(self.settings.notify.urls)

    def notification_channels(self) -> tuple[list[ChannelView], int | None]:
        """The channels with how their sends went, and the messages waiting on the
        notifications queue (None: Redis cannot be read); blocking: call it from a thread."""
        from app.adapters.notify.deliveries import outcomes  # noqa: PLC0415
        from app.adapters.notify.queue import notifications_queue  # noqa: PLC0415
        from app.domain.notify_view import channel_views  # noqa: PLC0415

        try:
            counted: dict[str, float] | None = outcomes(self.blocking_redis)
            waiting: int | None = notifications_queue(self.blocking_redis).count
        except (redis.RedisError, OSError):
            counted, waiting = None, None
        notify = self.settings.notify
        return channel_views(self.channel_services, notify.routes, counted), waiting

    def send_test_message(self, channel: int, by: str) -> bool:
        """Queue a test message for `channel`; False: no such channel (blocking)."""
        from app.services.notifications import ask_test_message  # noqa: PLC0415

        routes = self.settings.notify.routes
        return ask_test_message(self.notifier, routes, channel, datetime.now(UTC), by)

    @cached_property
    def reconciliation(self) -> ReconciliationStore:
        """What the monitor's reconciliation found (`GET /reconciliation`)."""
        from app.adapters.sql.reconciliation import SqlReconciliationStore  # noqa: PLC0415

        return SqlReconciliationStore(self.engine)

    @cached_property
    def history(self) -> SummarySource:
        """Closed brackets over a span and as trades per strategy (the console's realized P&L
        chart, `GET /performance`; the daily summary's reads)."""
        from app.adapters.sql.summary import SqlSummarySource  # noqa: PLC0415

        return SqlSummarySource(self.engine)

    async def marking_venues(self) -> dict[str, Exchange]:
        """The venues for marking positions, built on the first request that needs them:
        importing the venues at start would slow the web process's start, and a restart
        refuses alerts until /health answers. Paper venues need no ccxt; a live venue's
        adapter loads it, on a thread: on the event loop that import held every other request,
        alerts too, for a second or more (five on a loaded machine)."""
        if self._venues is None:
            if not all(venue.is_paper for venue in self.settings.venues):
                await asyncio.to_thread(importlib.import_module, "app.bootstrap.venues")
            module = await asyncio.to_thread(importlib.import_module, "app.bootstrap.remote_venues")
            assert self._async_redis is not None, "call startup() first"
            if self._venues is None:  # another request may have built them meanwhile
                self._venues = module.remote_venues(
                    self.settings, self._async_redis, timeout_seconds=0.8
                )
        return self._venues

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
            subscribers=self.signals,  # the directory, built on the first alert that asks
        )
        self.signals.warm_up()  # SQL and the account directory's first read, on a thread
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
        await asyncio.to_thread(self.signals.dispose)

    async def readiness(self) -> dict[str, str]:
        """Each dependency's state: "ok" or what is wrong (they decide `/ready`'s status)."""
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

    async def processes(self) -> dict[str, str]:
        """The forwarder's and the monitor's heartbeats: "ok" or what is wrong.

        Shown by `/ready` without deciding its status, like the venues' circuits: this web
        process keeps taking alerts (they wait in the Redis inbox for a forwarder), and a probe
        that took it out of rotation would turn a delay into refused alerts.
        """
        try:
            assert self._async_redis is not None
            forwarded = await last_beat(self._async_redis)
            monitored = await last_round(self._async_redis)
        except Exception as exc:  # noqa: BLE001 - Redis is reported on its own line
            unknown = f"unknown: Redis unreachable ({type(exc).__name__})"
            return {"forwarder": unknown, "monitor": unknown}
        now = time.time()
        monitor_limit = max(
            FORWARDER_STALE_SECONDS, MONITOR_STALE_ROUNDS * self.settings.monitor_interval_seconds
        )
        return {
            "forwarder": heartbeat_state("forwarder", forwarded, now, FORWARDER_STALE_SECONDS),
            "monitor": heartbeat_state("monitor", monitored, now, monitor_limit),
        }


def build_services(settings: Settings) -> Services:
    if settings.redis_url is None:
        raise RuntimeError("REDIS_URL is not set: run `signalgate run` or set REDIS_URL.")
    return Services(settings=settings, signals=LazySql(settings), redis_url=settings.redis_url)
