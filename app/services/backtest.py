"""Backtests: recorded candles through the same strategies, screening, risk gate, sizing,
executor and bracket monitor as live trading, on an in-process paper venue and an in-memory
store, on simulated time. The same inputs give the same result.

Each candle moves the venue's price along open -> low -> high -> close (open -> high -> low ->
close for a falling candle), so a stop-loss and a take-profit inside one candle fire in the
order the price most plausibly met them; the strategy sees the close.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from app.domain.backtest_report import EquityPoint, Trade, trades_of
from app.domain.brackets.bracket import Bracket, BracketState
from app.domain.execution_policy import ExecutionPolicy
from app.domain.market import Candle, Level, Market, OrderBook, Tick
from app.domain.orders import Side
from app.domain.paper.venue import PaperVenue
from app.domain.risk_values import RiskLimits
from app.domain.signals import Accepted, IntakePolicy, Signal, SignalStatus
from app.domain.sizing import SizingPolicy
from app.domain.strategy import Strategy
from app.ports.backtest import OpenVenue, ReplayStore
from app.ports.execution import NoLocks
from app.services.brackets.driver import BracketDriver
from app.services.brackets.exits import exit_side, watched
from app.services.brackets.monitor import BracketMonitor
from app.services.execution.executor import Executor
from app.services.strategy.engine import StrategyEngine

VENUE = "backtest"
_DEPTH = Decimal(1_000_000_000)  # replayed prices have no recorded depth: fills at the price


@dataclass
class BacktestConfig:
    market: Market  # fees included
    strategy: Strategy | None  # None: only the recorded alerts given to `run`
    balance: Decimal = Decimal(10_000)  # quote currency at the start
    limits: RiskLimits = field(default_factory=RiskLimits)
    sizing: SizingPolicy = field(default_factory=SizingPolicy)
    policy: ExecutionPolicy = field(default_factory=ExecutionPolicy)
    screening: IntakePolicy = field(default_factory=IntakePolicy)  # thresholds, staleness


@dataclass
class BacktestResult:
    symbol: str
    balance: Decimal
    equity: list[EquityPoint]
    trades: list[Trade]
    fees: Decimal
    signals: dict[str, int]  # status -> count
    candles: int

    def __repr__(self) -> str:
        # short: asyncio.run formats its main task, result included, when it ends (CPython
        # 3.11's SIGINT check), and the whole equity curve took 0.2 s at 100,000 candles
        return (
            f"BacktestResult({self.symbol}, {self.candles} candles, {len(self.trades)} trades, "
            f"signals {self.signals})"
        )


class _Sim:
    """Simulated time and the venue's current price (its book built when first read)."""

    def __init__(self, symbol: str, step: Decimal) -> None:
        self.symbol, self.step = symbol, step
        self.at = datetime.min.replace(tzinfo=UTC)
        self.price: Decimal | None = None
        self.book: OrderBook | None = None

    def now(self) -> datetime:
        return self.at

    def move(self, price: Decimal, at: datetime) -> None:
        self.at, self.price, self.book = at, price, None

    def books(self, symbol: str) -> OrderBook:
        if self.book is None:
            price = self.price
            assert price is not None
            bid, ask = (Level(price, _DEPTH),), (Level(price + self.step, _DEPTH),)
            self.book = OrderBook(self.symbol, bid, ask, self.at)
        return self.book


class _OpenView(NamedTuple):
    saves: int  # the store's saves when it was read
    busy: bool  # a bracket is opening, closing or trails its stop: the monitor has work
    exposed: bool  # a position is held
    targets: list[tuple[Bracket, Decimal]]  # watched brackets and their nearest target


class Backtest:
    """One replay. `store` starts empty; `open_venue` builds the paper venue's exchange over the
    replayed prices (bootstrap passes the in-memory store and the paper exchange)."""

    def __init__(
        self, config: BacktestConfig, *, store: ReplayStore, open_venue: OpenVenue
    ) -> None:
        market = config.market
        self.config = config
        self.sim = _Sim(market.symbol, market.price_step or Decimal("0.00000001"))
        self.store = store
        venue = PaperVenue(VENUE, [market], {market.quote: config.balance})
        self.venue = open_venue(venue, self.sim.books, self.sim.now)
        venues = {VENUE: self.venue}
        self.executor = Executor(
            store=self.store,
            venues=venues,
            modes={VENUE: "paper"},
            clock=self.sim.now,
            locks=NoLocks(),
            limits=config.limits,
            sizing=config.sizing,
            policy=config.policy,
            in_process=True,
        )
        self.monitor = BracketMonitor(
            store=self.store,
            venues=venues,
            driver=BracketDriver(self.store, self.sim.now),
            locks=NoLocks(),
        )
        self._count = 0
        self._changes_seen = 0  # the venue's book changes the monitor has looked at
        self.statuses: dict[str, int] = {}
        self._wallets = (-1, Decimal(0), Decimal(0))  # (store saves when read, quote, base)
        self._view = _OpenView(-1, False, False, [])

    async def _submit(self, signal: Signal, received_at: datetime | None = None) -> str:
        """Screen the signal as the intake would (at its receipt time), then execute it."""
        self._count += 1
        signal_id = f"BT{self._count:024d}"  # in arrival order, like the intake's ids
        verdict = self.config.screening.screen(signal, received_at or self.sim.at)
        if not isinstance(verdict, Accepted):
            status = SignalStatus.FILTERED.value
        else:
            self.store.add(signal_id, signal, self.sim.at)
            status = (await self.executor.execute(signal_id)).value
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return status

    async def run(
        self,
        candles: Iterable[Candle],
        progress: Callable[[int], None] | None = None,
        alerts: Sequence[tuple[datetime, Signal]] = (),
    ) -> BacktestResult:
        """Replay `candles`; `alerts` (receipt time, signal) are executed at the close of the
        candle they arrived in, after the strategy's own signal of that candle."""
        with _batch_collection():
            return await self._run(candles, progress, alerts)

    async def _run(
        self,
        candles: Iterable[Candle],
        progress: Callable[[int], None] | None,
        alerts: Sequence[tuple[datetime, Signal]],
    ) -> BacktestResult:
        symbol = self.config.market.symbol
        candles = list(candles)
        waiting = sorted(
            ((at, s) for at, s in alerts if s.symbol == symbol and _within(at, candles)),
            key=lambda a: a[0],
        )
        next_alert = 0
        # a gap of five candles or more (missing data) warms the strategy up again, as live
        steps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(candles[:100])]
        gap = timedelta(seconds=5 * statistics.median(steps)) if steps else timedelta(days=1)
        strategies = [self.config.strategy] if self.config.strategy is not None else []
        engine = StrategyEngine({symbol: strategies}, self._submit, gap=gap)
        equity: list[EquityPoint] = []
        count = 0
        venue = self.venue.venue
        for candle in candles:
            if self.store.open or venue.has_resting(symbol):
                for n, (at, price) in enumerate(_path(candle)):
                    self.sim.move(price, at)
                    self.venue.refresh(symbol)  # the venue takes the price: fills, triggers
                    # the extremes are where targets and stops are met; the open and the close
                    # lie between them
                    if n in (1, 2) and self.store.open and self._monitor_has_work():
                        self._changes_seen = self.venue.book_changes
                        await self.monitor.run_once()
            else:  # nothing waits for a price: only the close matters (to the next entry)
                self.sim.move(candle.close, candle.at)
            await engine.on_tick(_tick(candle))
            last = count + 1 == len(candles)
            while next_alert < len(waiting) and (
                last or waiting[next_alert][0] < candles[count + 1].at
            ):
                received_at, alert = waiting[next_alert]
                next_alert += 1
                await self._submit(alert, received_at)
            equity.append(EquityPoint(candle.at, self._equity(candle.close), self._exposed()))
            count += 1
            if progress is not None and count % 1000 == 0:
                progress(count)
                await asyncio.sleep(0)
        first = equity[0].at if equity else self.sim.at
        fills = self.venue.venue.fills_since(symbol, first - timedelta(days=1))
        return BacktestResult(
            symbol=symbol,
            balance=self.config.balance,
            equity=equity,
            trades=trades_of(self.store.brackets.values()),
            fees=sum((f.fee for f in fills), Decimal(0)),
            signals=dict(sorted(self.statuses.items())),
            candles=count,
        )

    def _monitor_has_work(self) -> bool:
        """Whether a monitor round could change anything: a resting order filled or triggered
        since the last round, a watched take-profit reached, or a bracket not simply open with
        its legs in place. Otherwise its plan is empty for every bracket and the round is
        skipped (the same trades, measured: tests/unit/test_backtest.py)."""
        if self.venue.book_changes != self._changes_seen:
            return True
        view = self._open_view()
        if view.busy:
            return True
        if not view.targets:
            return False
        book = self.sim.books(self.sim.symbol)
        for bracket, target in view.targets:
            exit_price = exit_side(bracket, book)
            if exit_price is not None and (
                exit_price >= target if bracket.side is Side.BUY else exit_price <= target
            ):
                return True
        return False

    def _open_view(self) -> _OpenView:
        """What the open brackets ask of each price, read again only after a bracket is saved
        (a bracket changes only by being saved)."""
        if self._view.saves != self.store.saves:
            busy, exposed, targets = False, False, []
            for bracket in self.store.open.values():
                exposed = exposed or bracket.position > 0
                if (
                    bracket.state is not BracketState.OPEN
                    or bracket.closing
                    or bracket.trailing_percent is not None
                ):
                    busy = True
                elif bracket.take_profits and watched(bracket):
                    prices = [p for p, _ in bracket.take_profits]
                    targets.append(
                        (bracket, min(prices) if bracket.side is Side.BUY else max(prices))
                    )
            self._view = _OpenView(self.store.saves, busy, exposed, targets)
        return self._view

    def _equity(self, price: Decimal) -> Decimal:
        if self._wallets[0] != self.store.saves:  # only orders move the wallets
            market = self.config.market
            wallets = self.venue.venue.balances()

            def total(asset: str) -> Decimal:
                wallet = wallets.get(asset)
                return Decimal(0) if wallet is None else wallet.free + wallet.reserved

            self._wallets = (self.store.saves, total(market.quote), total(market.base))
        _, quote, base = self._wallets
        return quote + base * price if base else quote

    def _exposed(self) -> bool:
        return bool(self.store.open) and self._open_view().exposed


@contextlib.contextmanager
def _batch_collection() -> Iterator[None]:
    """The objects that existed before the run (the libraries imported: ccxt alone is about
    200,000) are left out of the garbage collector's full passes, and young objects are
    collected less often, for the run: one full pass took 110 ms of a 1 s mean-reversion run."""
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)  # as the web processes run
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if not frozen:  # a process that froze its own objects keeps them frozen
            gc.unfreeze()


def _within(at: datetime, candles: Sequence[Candle]) -> bool:
    """Whether `at` falls in the candles' time: from the first's start to the last's end."""
    if not candles:
        return False
    step = candles[-1].at - candles[-2].at if len(candles) > 1 else timedelta(minutes=1)
    return candles[0].at <= at < candles[-1].at + step


def _path(candle: Candle) -> Sequence[tuple[datetime, Decimal]]:
    """The prices a candle moves through, in the order it most plausibly met them."""
    first, second = (
        (candle.low, candle.high) if candle.close >= candle.open else (candle.high, candle.low)
    )
    return (
        (candle.at, candle.open),
        (candle.at, first),
        (candle.at, second),
        (candle.at, candle.close),
    )


def _tick(candle: Candle) -> Tick:
    return Tick(candle.symbol, candle.at, candle.close, volume=candle.volume)
