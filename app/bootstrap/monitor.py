"""The `monitor` process: it hosts the paper venues (the one process that owns their state), feeds
them every market data tick, serves the workers' requests, and runs the bracket monitor."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.adapters.paper.exchange import PaperExchange
from app.adapters.paper.remote import PaperHost
from app.adapters.redis.locks import RedisKeyLocks
from app.adapters.redis.ticks import TickPublisher
from app.adapters.sql.db import make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.system import SystemClock
from app.bootstrap.venues import (
    async_redis,
    build_market_data,
    build_venues,
    close_venues,
    sync_redis,
)
from app.config.settings import Settings
from app.ports.exchange import MarketData
from app.services.brackets.driver import BracketDriver
from app.services.brackets.monitor import BracketMonitor

log = logging.getLogger("signalgate")


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
        driver=BracketDriver(store, clock, close_unprotected=settings.execution.close_unprotected),
        locks=RedisKeyLocks(sync_redis(settings.redis_url)),
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
