"""The strategy process: the enabled strategies on the monitor's ticks, through the intake."""

from __future__ import annotations

import asyncio
import importlib
import logging
from datetime import timedelta

import msgspec
import redis.asyncio

from app.adapters.redis.ticks import RedisTickFeed
from app.adapters.system import SystemClock, new_ulid
from app.bootstrap.redis_clients import async_redis
from app.bootstrap.remote_venues import remote_venues
from app.bootstrap.venues import close_venues
from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.domain.strategy import Strategy, build_strategy
from app.ports.exchange import Exchange
from app.services.strategy.arbitrage import ArbitrageParams, ArbitrageScanner
from app.services.strategy.engine import StrategyEngine, submit_through

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
        if name == ArbitrageScanner.name:
            continue  # not on ticks: on the venues' books (`build_arbitrage`)
        try:
            strategies.append(build_strategy(name, settings.strategy_settings.get(name)))
        except ValueError as error:
            raise StrategyConfigError(f"STRATEGIES or STRATEGY_SETTINGS: {error}") from error
    if unused := set(settings.strategy_settings) - set(settings.strategies):
        log.warning("STRATEGY_SETTINGS has settings for %s, which STRATEGIES does not enable",
                    ", ".join(sorted(unused)))  # fmt: skip
    return strategies


def build_arbitrage(settings: Settings) -> ArbitrageParams | None:
    """The arbitrage strategy's parameters when STRATEGIES enables it (symbols default to the
    feed's)."""
    if ArbitrageScanner.name not in settings.strategies:
        return None
    values = settings.strategy_settings.get(ArbitrageScanner.name) or {}
    try:
        params = msgspec.convert(values, ArbitrageParams, strict=False)
    except msgspec.ValidationError as error:
        raise StrategyConfigError(f"STRATEGY_SETTINGS for arbitrage: {error}") from error
    if not params.symbols:
        params = msgspec.structs.replace(params, symbols=tuple(settings.market_data.symbols))
    return params


async def run_strategy(settings: Settings, stop: asyncio.Event) -> None:
    """Until `stop`: every tick the monitor publishes through the enabled strategies, and the
    arbitrage strategy on the venues' books."""
    assert settings.redis_url is not None
    strategies = build_strategies(settings)
    arbitrage = build_arbitrage(settings)
    if not strategies and arbitrage is None:
        log.warning("strategy: no strategy is enabled (set STRATEGIES, like"
                    " STRATEGIES=momentum,mean_reversion); idle")  # fmt: skip
        await stop.wait()
        return
    services = build_services(settings)
    await services.startup(run_forwarder=False)  # a forwarder process moves them on
    assert services.intake is not None
    submit = submit_through(services.intake)
    client = redis.asyncio.Redis.from_url(settings.redis_url, socket_connect_timeout=2.0)
    runs = []
    if strategies:
        engine = StrategyEngine(
            dict.fromkeys(settings.market_data.symbols, strategies),
            submit,
            gap=timedelta(seconds=settings.strategy_gap_seconds),
        )
        log.info("strategy: %s on %s", ", ".join(s.name for s in strategies),
                 ", ".join(settings.market_data.symbols))  # fmt: skip
        runs.append(engine.run(RedisTickFeed(client), stop))
    venues: dict[str, Exchange] = {}
    venue_client = async_redis(settings.redis_url)  # paper requests wait: its own timeout
    if arbitrage is not None:
        venues = remote_venues(settings, venue_client)
        scanner = ArbitrageScanner(
            venues, arbitrage, submit, clock=SystemClock().now, new_id=new_ulid
        )
        log.info("strategy: arbitrage on %s across %s", ", ".join(arbitrage.symbols),
                 ", ".join(venues))  # fmt: skip
        runs.append(scanner.run(stop))
    try:
        await asyncio.gather(*runs)
    finally:
        await close_venues(venues)
        await venue_client.aclose()
        await client.aclose()
        await services.shutdown()
