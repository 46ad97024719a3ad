"""The strategy process: the enabled strategies on the monitor's ticks, through the intake."""

from __future__ import annotations

import asyncio
import importlib
import logging
from datetime import timedelta

import redis.asyncio

from app.adapters.ticks_redis import RedisTickFeed
from app.bootstrap import build_services
from app.config import Settings
from app.domain.strategy import Strategy, build_strategy
from app.strategy_engine import StrategyEngine, submit_through

log = logging.getLogger("signalgate.strategy")


class StrategyConfigError(ValueError):
    """The strategy settings do not add up; the message says what to change."""


def build_strategies(settings: Settings) -> list[Strategy]:
    """STRATEGY_MODULES imported (they register their strategies), then STRATEGIES built."""
    for module in settings.strategy_modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise StrategyConfigError(
                f"STRATEGY_MODULES names {module}, which cannot be imported ({error});"
                " put it on the Python path or remove it"
            ) from error
    strategies = []
    for name in settings.strategies:
        try:
            strategies.append(build_strategy(name, settings.strategy_settings.get(name)))
        except ValueError as error:
            raise StrategyConfigError(f"STRATEGIES or STRATEGY_SETTINGS: {error}") from error
    if unused := set(settings.strategy_settings) - set(settings.strategies):
        log.warning("STRATEGY_SETTINGS has settings for %s, which STRATEGIES does not enable",
                    ", ".join(sorted(unused)))  # fmt: skip
    return strategies


async def run_strategy(settings: Settings, stop: asyncio.Event) -> None:
    """Until `stop`: every tick the monitor publishes through the enabled strategies."""
    assert settings.redis_url is not None
    strategies = build_strategies(settings)
    if not strategies:
        log.warning("strategy: no strategy is enabled (set STRATEGIES, like"
                    " STRATEGIES=momentum,mean_reversion); idle")  # fmt: skip
        await stop.wait()
        return
    services = build_services(settings)
    await services.startup(run_forwarder=False)  # the web process's forwarder moves them on
    assert services.intake is not None
    client = redis.asyncio.Redis.from_url(settings.redis_url, socket_connect_timeout=2.0)
    engine = StrategyEngine(
        dict.fromkeys(settings.market_data.symbols, strategies),
        submit_through(services.intake),
        gap=timedelta(seconds=settings.strategy_gap_seconds),
    )
    log.info("strategy: %s on %s", ", ".join(s.name for s in strategies),
             ", ".join(settings.market_data.symbols))  # fmt: skip
    try:
        await engine.run(RedisTickFeed(client), stop)
    finally:
        await client.aclose()
        await services.shutdown()
