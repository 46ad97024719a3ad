"""Strategies and their indicators on crafted series where the right answer is known."""

from __future__ import annotations

import asyncio
import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain.market import Tick
from app.domain.rolling import Lookback, Returns, RollingStats
from app.domain.signals import Action, Signal, StopKind, StopLoss
from app.domain.strategy import (
    MeanReversion,
    MeanReversionParams,
    Momentum,
    MomentumParams,
    Proposal,
    build_strategy,
    register,
    registered,
)
from app.services.strategy.engine import StrategyEngine

T0 = datetime(2026, 11, 22, tzinfo=UTC)


def feed(strategy: Momentum | MeanReversion, prices: list[float], symbol: str = "BTC/USDT"):
    return [
        (i, p)
        for i, price in enumerate(prices)
        if (p := strategy.on_price(symbol, price, T0 + timedelta(seconds=i))) is not None
    ]


# --- indicators -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [2, 7, 50])
def test_rolling_stats_match_a_full_recomputation(size: int) -> None:
    rng = random.Random(size)
    stats, values = RollingStats(size), []
    for n in range(2000):
        value = 65_000 + rng.gauss(0, 50) + n * 0.5  # a large level with small moves
        stats.add(value)
        values.append(value)
        window = values[-size:]
        if len(window) >= 2:
            assert stats.mean == pytest.approx(statistics.fmean(window), rel=1e-12)
            assert stats.std == pytest.approx(statistics.stdev(window), rel=1e-6, abs=1e-9)
    assert stats.full


def test_lookback_change_and_returns_volatility() -> None:
    lookback, returns = Lookback(3), Returns(4)
    for price in (100.0, 101.0, 102.0, 103.0):
        lookback.add(price)
        returns.add(price)
    assert lookback.change == pytest.approx(0.03)
    steps = [101 / 100 - 1, 102 / 101 - 1, 103 / 102 - 1]
    assert not returns.full  # four prices make three returns
    returns.add(104.0)
    assert returns.volatility == pytest.approx(statistics.stdev([*steps, 104 / 103 - 1]))


# --- momentum -------------------------------------------------------------------------------


def noisy_flat(n: int, seed: int = 1, level: float = 100.0, noise: float = 0.0005) -> list[float]:
    rng = random.Random(seed)
    return [level * (1 + rng.gauss(0, noise)) for _ in range(n)]


def test_momentum_follows_a_clean_breakout_again_only_when_much_more_confident() -> None:
    prices = noisy_flat(80) + [100 * 1.002**k for k in range(1, 41)] + [108.0] * 10
    found = feed(Momentum(), prices)
    assert [p.side for _, p in found] == ["buy", "buy"]  # not one per tick of the move
    (first_at, first), (_, second) = found
    assert first_at >= 80
    assert second.confidence >= first.confidence + 0.25
    assert second.confidence == 1.0  # far beyond what the flat noise made usual
    price = prices[first_at]
    assert first.take_profit == pytest.approx(price * 1.01)
    assert first.stop_loss == pytest.approx(price * 0.995)


def test_momentum_stays_quiet_on_noise_and_before_its_warm_up() -> None:
    assert feed(Momentum(), noisy_flat(2000)) == []
    # a breakout in the first prices: the windows are not full yet
    assert feed(Momentum(), [100 * 1.01**k for k in range(30)]) == []


def test_momentum_sells_a_breakdown_with_per_symbol_parameters() -> None:
    momentum = Momentum(per_symbol={"ETH/USDT": MomentumParams(threshold=0.5)})
    prices = noisy_flat(80) + [100 * 0.998**k for k in range(1, 21)]
    assert [p.side for _, p in feed(momentum, prices)] == ["sell"]
    assert feed(momentum, prices, symbol="ETH/USDT") == []  # its threshold is 50%


# --- mean reversion -------------------------------------------------------------------------


def sine(n: int, period: int = 100, amplitude: float = 5.0) -> list[float]:
    return [100 + amplitude * math.sin(2 * math.pi * k / period) for k in range(n)]


def test_mean_reversion_enters_at_the_extremes_and_closes_at_the_mean() -> None:
    # over a whole period a sine's z-score peaks at sqrt(2): enter from 1.2
    prices = sine(410)
    found = feed(MeanReversion(MeanReversionParams(window=100, entry_z=1.2)), prices)
    sides = [p.side for _, p in found]
    assert sides == ["sell", "close", "buy", "close"] * 3
    for at, proposal in found:
        phase = (at % 100) / 100
        if proposal.side == "sell":
            assert 0.1 < phase < 0.4  # near the crest (sin peaks at 0.25)
            assert proposal.stop_loss > prices[at] > proposal.take_profit
        elif proposal.side == "buy":
            assert 0.6 < phase < 0.9  # near the trough
            assert proposal.stop_loss < prices[at] < proposal.take_profit
        else:
            assert phase < 0.1 or 0.45 < phase < 0.6  # back at the mean
    assert all(0 < p.confidence <= 1 for _, p in found)


def test_mean_reversion_is_quiet_on_a_flat_series_and_after_a_reset() -> None:
    strategy = MeanReversion(MeanReversionParams(window=20))
    assert feed(strategy, [100.0] * 100) == []  # no deviation: no z-score
    feed(strategy, sine(60, period=40))
    strategy.reset("BTC/USDT")
    assert feed(strategy, sine(19, period=40)) == []  # warming up again


# --- the registry ---------------------------------------------------------------------------


class Always:
    """A user's strategy in one file: buys on every price."""

    name = "always"

    def on_price(self, symbol: str, price: float, at: datetime) -> Proposal | None:
        return Proposal("buy", 1.0, price * 1.1, price * 0.9, "always")

    def reset(self, symbol: str) -> None:
        pass


def test_strategies_are_built_by_name_with_their_settings() -> None:
    built = build_strategy(
        "momentum", {"threshold": 0.01, "symbols": {"ETH/USDT": {"lookback": 5}}}
    )
    assert isinstance(built, Momentum)
    assert built.params == MomentumParams(threshold=0.01)
    assert built.per_symbol["ETH/USDT"] == MomentumParams(threshold=0.01, lookback=5)
    register("always", Always)
    assert "always" in registered()
    assert isinstance(build_strategy("always"), Always)
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        build_strategy("nope")
    with pytest.raises(ValueError, match="momentum"):
        build_strategy("momentum", {"lookbak": 5})


# --- the engine -----------------------------------------------------------------------------


class Kept:
    def __init__(self, outcome: str = "queued") -> None:
        self.signals: list[Signal] = []
        self.outcome = outcome

    async def __call__(self, signal: Signal) -> str:
        self.signals.append(signal)
        return self.outcome


def tick(at: int, price: str, symbol: str = "BTC/USDT") -> Tick:
    return Tick(symbol, T0 + timedelta(seconds=at), Decimal(price))


@pytest.mark.anyio
async def test_the_engine_submits_a_strategy_signal_with_its_source_and_targets() -> None:
    kept = Kept()
    engine = StrategyEngine({"BTC/USDT": [Always()]}, kept)
    (signal,) = await engine.on_tick(tick(0, "65000.5"))
    assert kept.signals == [signal]
    assert (signal.source, signal.strategy, signal.action) == (
        "strategy:always",
        "always",
        Action.BUY,
    )
    assert (signal.price, signal.confidence) == (Decimal("65000.5"), 1.0)
    assert signal.take_profits[0].price == Decimal("71500.55000000")
    assert signal.stop_loss == StopLoss(StopKind.PRICE, Decimal("58500.45000000"))
    assert await engine.on_tick(tick(1, "1", symbol="ETH/USDT")) == []  # no strategy there
    assert engine.submitted == {"queued": 1}


@pytest.mark.anyio
async def test_a_gap_in_the_ticks_makes_the_strategies_warm_up_again() -> None:
    kept = Kept()
    strategy = Momentum(MomentumParams(lookback=3, volatility_window=3, threshold=0.01))
    engine = StrategyEngine({"BTC/USDT": [strategy]}, kept, gap=timedelta(seconds=30))
    for n, price in enumerate(["100", "100.1", "99.9", "100", "100.05"]):
        await engine.on_tick(tick(n, price))
    # an outage, then the price has moved: without the reset this would be a 5% "breakout"
    assert await engine.on_tick(tick(100, "105")) == []
    assert await engine.on_tick(tick(101, "105.1")) == []
    assert kept.signals == []


class Flaky:
    """A feed that fails on its first opening, then gives two ticks and waits forever."""

    def __init__(self) -> None:
        self.opened = 0

    async def ticks(self):  # type: ignore[no-untyped-def]
        self.opened += 1
        if self.opened == 1:
            raise ConnectionError("the feed went away")
        yield tick(0, "100")
        yield tick(1, "101")
        await asyncio.Event().wait()

    def order_book(self, symbol: str, depth: int = 20) -> None:
        return None


@pytest.mark.anyio
async def test_the_engine_reopens_a_failed_feed_and_stops_while_it_is_idle() -> None:
    kept, feed, stop = Kept(), Flaky(), asyncio.Event()
    engine = StrategyEngine({"BTC/USDT": [Always()]}, kept)
    running = asyncio.create_task(engine.run(feed, stop))
    for _ in range(200):
        if len(kept.signals) == 2:
            break
        await asyncio.sleep(0.01)
    assert feed.opened == 2
    assert [s.price for s in kept.signals] == [Decimal(100), Decimal(101)]
    stop.set()
    await asyncio.wait_for(running, 2)


@pytest.mark.anyio
async def test_no_close_follows_a_mean_reversion_entry_that_was_not_taken() -> None:
    for outcome, closes in (("queued", 1), ("filtered", 0), ("denied", 0)):
        kept = Kept(outcome)
        strategy = MeanReversion(MeanReversionParams(window=100, entry_z=1.2))
        engine = StrategyEngine({"BTC/USDT": [strategy]}, kept, gap=timedelta(days=1))
        for n, price in enumerate(sine(160)):  # one crest, then back to the mean
            await engine.on_tick(tick(n, f"{price:.4f}"))
        actions = [s.action for s in kept.signals]
        assert actions.count(Action.SELL) == 1
        assert actions.count(Action.CLOSE) == closes, outcome
