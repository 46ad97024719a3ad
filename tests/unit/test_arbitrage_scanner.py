"""The arbitrage strategy: books read from the venues, an opportunity submitted as one unit,
once per cooldown, and executed all legs or none."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.bootstrap.strategy import StrategyConfigError, build_arbitrage, build_strategies
from app.config.settings import Settings
from app.domain.signals import Action, Signal, SignalStatus
from app.services.strategy.arbitrage import ArbitrageParams, ArbitrageScanner
from tests.paper_helpers import book
from tests.unit.test_execution import NOW
from tests.unit.test_execution_units import World

pytestmark = pytest.mark.anyio


class Kept:
    """The intake as the scanner sees it: keeps each signal in the world's store."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.ids: list[str] = []

    async def __call__(self, signal: Signal) -> str:
        self.ids.append(self.world.keep(signal))
        return "queued"


def scanner(world: World, kept: Kept, **params: object) -> ArbitrageScanner:
    settings = ArbitrageParams(symbols=("BTC/USDT",), notional=Decimal(500), **params)  # type: ignore[arg-type]
    units = iter(f"unit-{n}" for n in range(10))
    return ArbitrageScanner(
        world.venues, settings, kept, clock=lambda: NOW, new_id=lambda: next(units)
    )


async def test_a_mispriced_pair_is_submitted_as_one_unit_and_executed() -> None:
    world = World()  # a asks 100,000; b bids 100,600: 0.6% apart, 0.2% in fees
    kept = Kept(world)

    found = await scanner(world, kept).scan_once()

    assert len(found) == 1
    signals = [world.store.rows[i].signal for i in kept.ids]
    assert [(s.action, s.venue, s.quantity) for s in signals] == [
        (Action.BUY, "a", Decimal("0.005")),
        (Action.SELL, "b", Decimal("0.005")),
    ]
    assert {s.link.unit for s in signals if s.link} == {"unit-0"}
    assert all(s.source == "strategy:arbitrage" for s in signals)
    assert all(s.confidence is not None and 0.99 < s.confidence <= 1 for s in signals)  # 0.4%
    statuses = await world.executor.execute_many(kept.ids)
    assert set(statuses.values()) == {SignalStatus.EXECUTED}


async def test_an_opportunity_is_submitted_once_per_cooldown() -> None:
    world = World()
    kept = Kept(world)
    scan = scanner(world, kept, cooldown_seconds=60.0)
    await scan.scan_once()
    await scan.scan_once()
    assert len(kept.ids) == 2  # one unit of two legs


async def test_nothing_is_submitted_when_the_spread_does_not_pay_the_fees() -> None:
    world = World()
    world.books["b"] = book("100250x1", "100260x1")  # 0.25% apart: 0.2% fees, 0.2% minimum
    kept = Kept(world)
    assert await scanner(world, kept).scan_once() == []
    assert kept.ids == []


def test_arbitrage_is_enabled_by_name_and_configured_in_strategy_settings() -> None:
    settings = Settings(
        strategies=("momentum", "arbitrage"),
        strategy_settings={"arbitrage": {"notional": "250", "triangle_start": "USDT"}},
    )
    params = build_arbitrage(settings)
    assert params is not None
    assert (params.notional, params.triangle_start) == (Decimal(250), "USDT")
    assert params.symbols == tuple(settings.market_data.symbols)
    assert [s.name for s in build_strategies(settings)] == ["momentum"]
    assert build_arbitrage(Settings(strategies=("momentum",))) is None
    bad = Settings(strategies=("arbitrage",), strategy_settings={"arbitrage": {"notinal": 1}})
    with pytest.raises(StrategyConfigError, match="notinal"):
        build_arbitrage(bad)
