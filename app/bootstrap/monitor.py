"""The `monitor` process: it hosts the paper venues (the one process that owns their state; those
of VENUES and the stored paper connections, which it reads again every 5 s), feeds
them every market data tick, serves the workers' requests, runs the bracket monitor, and
reconciles the book with the venues (at start and every `RECONCILE_INTERVAL_SECONDS`).

Exactly one monitor acts: the one holding the lease in Redis (`LEASE_SECONDS`, renewed every third
of it). Another monitor process stands by, asking for the lease as often, and takes over within
`LEASE_SECONDS` and a third of the first one's death. A holder that cannot renew before its lease
lapses stops acting at once (the bracket monitor checks the lease before every bracket; the paper
host and the feed are stopped) and stands by again. A task of the holder that dies ends the
process with an error, so the platform restarts it: never a monitor that looks alive and is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import Engine

from app.adapters.paper.exchange import PaperExchange
from app.adapters.paper.host import PaperHost
from app.adapters.redis import venue_health
from app.adapters.redis.books import RedisSharedBooks
from app.adapters.redis.lease import RedisHeartbeat, RedisLease
from app.adapters.redis.locks import RedisKeyLocks
from app.adapters.redis.ticks import TickPublisher
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.system import SystemClock
from app.adapters.tick_recorder import TickRecorder
from app.bootstrap.connections import build_connections
from app.bootstrap.database import process_engine
from app.bootstrap.notifications import build_notifier, close_notifier, route_accounts
from app.bootstrap.reconciliation import build_reconciler, drift_policies
from app.bootstrap.redis_clients import async_redis, sync_redis
from app.bootstrap.stored_venues import StoredVenues
from app.bootstrap.venues import (
    book_streams,
    budgeted,
    build_market_data,
    build_recorder,
    build_venues,
    close_venues,
    hosted_venues,
    order_streams,
    streamed,
    venue_modes,
)
from app.config.settings import Settings
from app.config.venues import VenueSettings
from app.domain.notifications import MonitorChanged, ProcessChange
from app.ports.exchange import Exchange, MarketData
from app.ports.lease import Heartbeat, Lease
from app.ports.notifications import Notifier
from app.ports.streams import BookStream, SharedBooks
from app.services.brackets.driver import BracketDriver
from app.services.brackets.monitor import BracketMonitor
from app.services.brackets.streams import StreamTrust, StreamWatch
from app.services.streamed import share_books

log = logging.getLogger("signalgate")

LEASE_SECONDS = 5.0
RENEW_SECONDS = LEASE_SECONDS / 3  # two renewals may fail before the lease lapses


class _Beat:
    """The heartbeat, and the venues' health as this monitor sees them (`/ready`, `/metrics`)."""

    def __init__(self, heartbeat: Heartbeat, client: redis.Redis, venues: dict[str, Exchange]):
        self._heartbeat, self._client, self._venues = heartbeat, client, venues
        self._process = venue_health.process_name("monitor")

    async def beat(self) -> None:
        await self._heartbeat.beat()
        venues = dict(self._venues)  # a copy: the connections' watch changes them on the loop
        await asyncio.to_thread(venue_health.publish, self._client, self._process, venues)


class MonitorDied(RuntimeError):
    """A task of the lease holder ended while it should run: the process must be restarted."""


async def run_monitor(settings: Settings, stop: asyncio.Event) -> None:
    """The monitor process: while it holds the lease, paper venues hosted and fed and the bracket
    monitor; a standby otherwise; until `stop`.

    Raises:
        MonitorDied: a task died (the process exits non-zero).
    """
    assert settings.redis_url is not None
    # a client of its own, short timeouts and no retries: a renewal must not outwait the lease
    # (the next renewal, a third of the lease later, is the retry)
    lease_client = redis.asyncio.Redis.from_url(
        settings.redis_url,
        socket_timeout=RENEW_SECONDS,
        socket_connect_timeout=RENEW_SECONDS,
        retry=Retry(NoBackoff(), 0),
    )
    lease = RedisLease(lease_client, period_seconds=LEASE_SECONDS)
    notifier, lost = build_notifier(settings), False
    try:
        while (waited := await _standby(lease, stop)) is not None:
            if waited or lost:  # a change worth telling: not a plain start
                _tell(notifier, ProcessChange.TOOK_OVER, "took the lease and acts on brackets")
            if not await _lead(settings, lease, stop, notifier):
                return
            lost = True
            log.error("monitor: lost the lease (Redis unreachable, or another monitor took it); "
                      "stopped acting on brackets and standing by")  # fmt: skip
            _tell(notifier, ProcessChange.LEASE_LOST, "lost the lease (Redis unreachable, or"
                  " another monitor took it): it stopped acting on brackets")  # fmt: skip
    finally:
        await lease.release()  # a standby takes over now rather than after the lease lapses
        await lease_client.aclose()
        await asyncio.to_thread(close_notifier, notifier)


def _tell(notifier: Notifier, change: ProcessChange, what: str) -> None:
    detail = f"{venue_health.process_name('monitor')} {what}"
    notifier.notify(MonitorChanged(change=change, detail=detail, at=SystemClock().now()))


async def _standby(lease: Lease, stop: asyncio.Event) -> bool | None:
    """Wait until this process holds the lease: whether another monitor held it meanwhile, or
    None if stopped first."""
    waited = False
    while not stop.is_set():
        if await lease.acquire():
            log.info("monitor: holding the lease (%.0f s, renewed every %.2f s); taking over",
                     lease.period_seconds, RENEW_SECONDS)  # fmt: skip
            return waited
        if not waited:
            log.info("monitor: another monitor holds the lease; standing by until it lapses")
            waited = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RENEW_SECONDS)
    return None


async def _keep(lease: Lease, stop: asyncio.Event) -> None:
    """Renew the lease every `RENEW_SECONDS`; return when stopped or when it is lost."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RENEW_SECONDS)
        if stop.is_set():
            return
        # a renewal that hangs is given up when the lease ends, not later: from then on another
        # monitor may hold it
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lease.renew(), min(RENEW_SECONDS, lease.seconds_left()))
        if not lease.held():
            return


async def _lead(settings: Settings, lease: Lease, stop: asyncio.Event, notifier: Notifier) -> bool:
    """Act as the monitor while the lease is held: True when it was lost, False when stopped.

    Raises:
        MonitorDied: the paper host, the bracket monitor or the feed ended with an error, or the
            first two ended at all.
    """
    assert settings.redis_url is not None
    engine = _engine(settings, notifier)
    clock = SystemClock().now
    market_data = build_market_data(settings)
    recorder = build_recorder(settings, engine)
    venues = build_venues(settings, engine=engine, market_data=market_data, clock=clock)
    paper = {name: v for name, v in venues.items() if isinstance(v, PaperExchange)}
    policies = drift_policies(settings)
    # the monitor's and the reconciliation's requests, paced; books from the venues' public
    # streams while they are fresh (no request at all)
    books = book_streams(settings)
    paced = streamed(settings, budgeted(settings, venues), books)
    stored = StoredVenues(  # stored connections join `paced` (no request budget of their own)
        build_connections(settings, engine),
        _hosting(hosted_venues(settings, engine=engine, market_data=market_data, clock=clock),
                 paper),
        venues=paced, modes=venue_modes(settings), shared=list(venues), policies=policies,
        drift_policy=settings.drift_policy,
    )  # fmt: skip
    await stored.refresh()
    client = async_redis(settings.redis_url)
    host = PaperHost(client, paper)
    store = SqlExecutionStore(engine)
    blocking = sync_redis(settings.redis_url)
    monitor = BracketMonitor(
        store=store,
        venues=paced,
        driver=BracketDriver.for_policy(store, clock, settings.execution, notifier),
        locks=RedisKeyLocks(blocking),
        interval_seconds=settings.monitor_interval_seconds,
        heartbeat=_Beat(RedisHeartbeat(client), blocking, paced),
        active=lease.held,
        trust=StreamTrust(),
        slow_interval_seconds=settings.monitor_stream_interval_seconds,
    )
    watches = [
        StreamWatch(name, stream, monitor.trust, monitor.wake, monitor.reconcile)
        for name, stream in order_streams(settings).items()
    ]
    reconciler = build_reconciler(settings, engine, paced, monitor, lease.held, policies)
    log.info("monitor: hosting paper venues %s; watching brackets", ", ".join(paper) or "(none)")
    # the tasks stop on `halt`: set by `stop`, or when the lease is lost
    halt = asyncio.Event()
    essential = [
        asyncio.create_task(host.serve(halt), name="paper-host"),
        asyncio.create_task(monitor.run(halt), name="bracket-monitor"),
        asyncio.create_task(reconciler.run(halt), name="reconciliation"),
        *(asyncio.create_task(w.run(halt), name=f"{w.venue}-order-stream") for w in watches),
        *_sharing(settings, books, RedisSharedBooks(client), halt),
    ]
    watch = asyncio.create_task(stored.watch(halt), name="connections")
    feed = asyncio.create_task(
        _feed(market_data, host, TickPublisher(client), halt, recorder), name="market-data"
    )
    keeper = asyncio.create_task(_keep(lease, stop), name="lease")
    stopped = asyncio.create_task(_wait(stop), name="stop")
    try:
        pending: set[asyncio.Task[None]] = {*essential, watch, feed, keeper, stopped}
        while True:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                return False
            if keeper in done:
                return True
            for task in done:
                if task.exception() is not None:
                    raise MonitorDied(f"monitor: {task.get_name()} died") from task.exception()
                if task in essential:
                    raise MonitorDied(f"monitor: {task.get_name()} ended unexpectedly")
            # the feed ended without an error (a replay that ran out): keep serving; the
            # connections' watch ends only with `halt`
    finally:
        halt.set()
        for task in (*essential, watch, feed, keeper, stopped):
            task.cancel()
        for task in (*essential, watch, feed, keeper, stopped):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # VENUES' venues unwrapped (`paced` holds some behind their budget), and the stored ones
        await close_venues({**paced, **venues})
        await stored.close()
        for book_stream in books.values():
            await book_stream.close()
        if recorder is not None:
            await asyncio.to_thread(recorder.close)
        await client.aclose()
        engine.dispose()


def _engine(settings: Settings, notifier: Notifier) -> Engine:
    """The leading monitor's engine, through which `notifier` reads accounts' own channels (the
    next lead's replaces it; a monitor standing by tells no account's event)."""
    engine = process_engine(settings)
    route_accounts(notifier, settings, engine)
    return engine


def _sharing(
    settings: Settings, books: dict[str, BookStream], shared: SharedBooks, halt: asyncio.Event
) -> list[asyncio.Task[None]]:
    """A task per streamed venue sharing each update of its books with the workers' quotes,
    each copy for as long as it is fresh (`PRICE_STREAM_MAX_AGE_SECONDS`)."""
    depth, max_age = settings.execution.book_depth, settings.market_data.stream_max_age_seconds
    return [
        asyncio.create_task(
            share_books(name, stream, shared, halt, depth=depth, max_age_seconds=max_age),
            name=f"{name}-shared-books",
        )
        for name, stream in books.items()
    ]


def _hosting(
    build: Callable[[VenueSettings], Exchange], paper: dict[str, PaperExchange]
) -> Callable[[VenueSettings], Exchange]:
    """`build`, with each paper venue it builds served by the paper host too (`paper` is the
    host's own dictionary)."""

    def hosted(venue: VenueSettings) -> Exchange:
        built = build(venue)
        if isinstance(built, PaperExchange):
            paper[venue.name] = built
        return built

    return hosted


async def _wait(event: asyncio.Event) -> None:
    await event.wait()


async def _feed(
    market_data: MarketData,
    host: PaperHost,
    ticks: TickPublisher,
    stop: asyncio.Event,
    recorder: TickRecorder | None,
) -> None:
    async for tick in market_data.ticks():
        if recorder is not None:
            recorder.record(tick)  # a buffer; written once a second (db: on a thread)
        await host.on_tick(tick.symbol)
        await ticks.publish(tick)  # the strategy process trades on these same prices
        if stop.is_set():
            return
