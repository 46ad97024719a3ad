"""Recorded alerts exported from the database and replayed by a backtest, through the same
screening, risk gate and brackets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.adapters.sql.db import SqlSignalStore, make_engine
from app.domain.signals import (
    Action,
    QtyMode,
    Signal,
    SignalRecord,
    SignalStatus,
    StopKind,
    StopLoss,
    TakeProfit,
)
from app.entrypoints.cli.main import main

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "btc_usdt_1m.csv"
T0 = datetime(2026, 1, 1, tzinfo=UTC)  # the sample's first candle


def alert(minute: int, confidence: float | None = None, strategy: str = "tv") -> SignalRecord:
    at = T0 + timedelta(minutes=minute, seconds=30)
    signal = Signal(
        symbol="BTC/USDT", action=Action.BUY, source="tradingview:native", strategy=strategy,
        quantity=Decimal(200), qty_mode=QtyMode.QUOTE, confidence=confidence,
        take_profits=(TakeProfit(percent=Decimal("0.3")),),
        stop_loss=StopLoss(StopKind.PERCENT, Decimal("0.3")), fired_at=at,
    )  # fmt: skip
    return SignalRecord(f"01TEST{minute:020d}", at, SignalStatus.EXECUTED, signal, "native",
                        f"k{minute}", payload={"action": "buy"})  # fmt: skip


def test_exported_alerts_replay_through_the_risk_gate(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    SqlSignalStore(make_engine(sqlite_url)).add_many(
        [alert(10), alert(200), alert(400, confidence=0.2), alert(5000)]
    )
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    exported = tmp_path / "signals.jsonl"
    assert main(["export-signals", "--out", str(exported)]) == 0
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert [line["id"] for line in lines] == [f"01TEST{m:020d}" for m in (10, 200, 400, 5000)]
    assert lines[0]["payload"] == {"action": "buy"}

    out = tmp_path / "report"
    code = main(["backtest", "--data", str(SAMPLE), "--webhooks", str(exported),
                 "--to", "2026-01-01T12:00:00", "--out", str(out)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    # minute 5000 is after --to; minute 400's confidence is under the threshold
    assert "signals         2 executed, 1 filtered" in printed
    trades = (out / "trades.csv").read_text().splitlines()[1:]
    assert len(trades) == 2  # each bracket closed by its 0.3% target or stop
    assert {row.split(",")[0] for row in trades} == {"BT" + "0" * 23 + "1", "BT" + "0" * 23 + "2"}
