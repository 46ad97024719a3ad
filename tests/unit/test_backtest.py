"""Backtests: the figures on hand-checkable series, a trade through the live executor and
monitor on replayed candles, determinism, the chart, and the command on the shipped sample."""

from __future__ import annotations

import asyncio
import gc
import struct
import zlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.adapters.memory_execution import MemoryExecutionStore
from app.adapters.paper.exchange import PaperExchange
from app.adapters.png_chart import line_chart
from app.bootstrap.backtest import build_backtest
from app.bootstrap.venues import paper_market
from app.domain.backtest_report import EquityPoint, max_drawdown, report, sharpe
from app.domain.market import Candle
from app.domain.strategy import Proposal, build_strategy
from app.domain.synthetic import SymbolSpec, synthetic_candles
from app.entrypoints.cli.main import main
from app.services.backtest import Backtest, BacktestConfig

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "btc_usdt_1m.csv"


def points(*values: str, exposed: bool = False) -> list[EquityPoint]:
    return [EquityPoint(T0 + timedelta(days=n), D(v), exposed) for n, v in enumerate(values)]


def test_the_figures_of_a_hand_checkable_curve() -> None:
    curve = points("100", "120", "90", "110", "132")
    assert max_drawdown([p.equity for p in curve]) == pytest.approx(0.25)  # 120 -> 90
    figures = report(D(100), curve, [], D("1.5"))
    assert figures.total_return == pytest.approx(0.32)
    # 4 days for +32%: (1.32) ** (365 / 4) - 1
    assert figures.annualized_return == pytest.approx(1.32 ** (365 / 4) - 1)
    assert (figures.fees, figures.exposure, figures.trades, figures.win_rate) == (D("1.5"), 0, 0, 0)


def test_sharpe_is_the_mean_over_the_deviation_of_returns_annualized() -> None:
    curve = points("100", "110", "99", "108.9")  # +10%, -10%, +10%
    returns = [0.1, -0.1, 0.1]
    mean, deviation = sum(returns) / 3, (sum((r - 1 / 30) ** 2 for r in returns) / 3) ** 0.5
    assert sharpe(curve) == pytest.approx(mean / deviation * 365**0.5)
    assert sharpe(points("100", "100", "100")) == 0.0


class BuyOnce:
    """Buys on the third candle's close with a take-profit 2% and a stop-loss 1% away."""

    name = "buy_once"

    def __init__(self) -> None:
        self.seen = 0

    def on_price(self, symbol: str, price: float, at: datetime) -> Proposal | None:
        self.seen += 1
        if self.seen != 3:
            return None
        return Proposal("buy", 0.9, price * 1.02, price * 0.99, "the third candle")

    def reset(self, symbol: str) -> None:
        self.seen = 0


def candle(n: int, o: str, h: str, low: str, c: str) -> Candle:
    return Candle("BTC/USDT", T0 + timedelta(minutes=n), D(o), D(h), D(low), D(c), D(1))


def run(candles: list[Candle], strategy: object, fee: str = "0.001") -> object:
    config = BacktestConfig(market=paper_market("BTC/USDT", D(fee)), strategy=strategy)  # type: ignore[arg-type]
    return asyncio.run(build_backtest(config).run(candles))


def test_a_bracket_opened_on_a_close_takes_profit_when_a_later_high_reaches_the_target() -> None:
    candles = [
        candle(0, "100", "100", "100", "100"),
        candle(1, "100", "100", "100", "100"),
        candle(2, "100", "100", "100", "100"),  # buy 100 USDT at 100.01 (the ask)
        candle(3, "100", "100.5", "99.5", "100"),  # neither leg
        candle(4, "100", "103", "99.8", "102.5"),  # the high passes the 102 target
        candle(5, "102.5", "102.5", "102.5", "102.5"),
    ]
    result = run(candles, BuyOnce())
    (trade,) = result.trades  # type: ignore[attr-defined]
    assert trade.entry_price == D("100.01")
    assert trade.closed_at == candles[4].at
    assert trade.exit_price >= D(102)  # sold at market once the target was seen
    assert trade.pnl == (trade.exit_price - trade.entry_price) * trade.amount - trade.fees
    assert trade.pnl > 0
    assert result.signals == {"executed": 1}  # type: ignore[attr-defined]
    final = result.equity[-1]  # type: ignore[attr-defined]
    assert final.equity == D(10_000) + trade.pnl
    assert not final.exposed


def test_a_falling_candle_that_spans_both_legs_meets_the_stop_first() -> None:
    candles = [candle(n, "100", "100", "100", "100") for n in range(3)] + [
        candle(3, "100", "103", "98", "98.5"),  # falling: high first, then low ... TP first
        candle(4, "98.5", "98.5", "98.5", "98.5"),
    ]
    rising = [candle(n, "100", "100", "100", "100") for n in range(3)] + [
        candle(3, "100", "103", "98", "102.5"),  # rising: low first: the stop
        candle(4, "102.5", "102.5", "102.5", "102.5"),
    ]
    (up,) = run(rising, BuyOnce()).trades  # type: ignore[attr-defined]
    assert up.pnl < 0  # the low came first: stopped out before the high
    (down,) = run(candles, BuyOnce()).trades  # type: ignore[attr-defined]
    assert down.pnl > 0  # the high came first: the target


def test_the_same_inputs_give_the_same_result() -> None:
    candles = synthetic_candles(SymbolSpec("BTC/USDT", D(65000)), seed=3, start=T0, count=1500)
    first = run(candles, build_strategy("mean_reversion"))
    second = run(candles, build_strategy("mean_reversion"))
    assert first == second
    assert first.trades  # type: ignore[attr-defined]


def test_a_run_leaves_the_garbage_collector_as_it_found_it() -> None:
    candles = [candle(n, "100", "100", "100", "100") for n in range(5)]
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    run(candles, BuyOnce())
    assert gc.get_threshold() == threshold
    assert bool(gc.get_freeze_count()) == bool(frozen)  # (frozen objects freed leave the count)
    gc.freeze()  # a process that froze its own objects (the web app does) keeps them frozen
    try:
        run(candles, BuyOnce())
        assert gc.get_freeze_count() > 0
    finally:
        if not frozen:
            gc.unfreeze()


def test_the_chart_is_a_png_of_the_requested_size() -> None:
    data = line_chart([1.0, 3.0, 2.0, 5.0] * 100, width=120, height=40, baseline=2.5)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (120, 40)
    start = data.index(b"IDAT") + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    assert len(zlib.decompress(data[start : start + length])) == 40 * (1 + 3 * 120)
    with pytest.raises(ValueError, match="at least one value"):
        line_chart([])


def test_the_readme_backtest_runs_offline_on_the_shipped_sample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    code = main(["backtest", "--data", str(SAMPLE), "--strategy", "momentum", "--to",
                 "2026-01-02T00:00:00", "--out", str(out)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "backtest: momentum on BTC/USDT, 1,440 candles" in printed
    assert (out / "equity.png").read_bytes()[:4] == b"\x89PNG"
    header = (out / "trades.csv").read_text().splitlines()[0]
    assert header.startswith("id,symbol,side,opened_at,closed_at,amount,entry_price")
    assert "Sharpe" in (out / "report.txt").read_text()


def test_backtest_errors_say_what_to_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", "--data", str(tmp_path / "nope.csv"), "--strategy", "momentum"]) == 2
    assert "signalgate sample-data" in capsys.readouterr().err
    assert main(["backtest", "--data", str(SAMPLE), "--strategy", "nope"]) == 2
    assert "unknown strategy 'nope'" in capsys.readouterr().err


class EveryStep(Backtest):
    """The bracket monitor at both extremes of every candle while a bracket is open."""

    def _monitor_has_work(self) -> bool:
        return True


@pytest.mark.parametrize("name", ["mean_reversion", "momentum"])
def test_skipping_idle_monitor_rounds_changes_no_trade(name: str) -> None:
    spec = SymbolSpec("BTC/USDT", Decimal(65_000))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    candles = synthetic_candles(spec, seed=7, start=start, count=15_000, ticks_per_candle=10)
    config = BacktestConfig(market=paper_market("BTC/USDT", D("0.001")), strategy=None)
    results = []
    for kind in (Backtest, EveryStep):
        config.strategy = build_strategy(name)  # a fresh one: strategies keep state
        backtest = kind(config, store=MemoryExecutionStore(), open_venue=PaperExchange)
        results.append(asyncio.run(backtest.run(candles)))
    skipping, every_step = results
    assert len(skipping.trades) > 20
    assert skipping.trades == every_step.trades
    assert skipping.equity == every_step.equity
    assert skipping.signals == every_step.signals
