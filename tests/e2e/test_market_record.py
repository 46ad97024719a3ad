"""MARKET_DATA_RECORD: the monitor keeps the feed's ticks (in a CSV file, or in the database and
exported to one), and `signalgate backtest --data` runs on what it kept."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.adapters.market_data import read_csv
from app.domain.market import Tick

CLI = [sys.executable, "-m", "app.entrypoints.cli"]
BOUND = 120.0  # seconds: a hang, not a speed (the monitor's start is slow on a loaded machine)


def _kept_lines(path: Path) -> int:
    """Ticks written to the CSV file so far (its header not counted)."""
    return max(len(path.read_text().splitlines()) - 1, 0) if path.exists() else 0


def _kept_rows(tmp_path: Path) -> int:
    """Ticks kept in the database so far."""
    with sqlite3.connect(tmp_path / "e2e.db") as db:
        try:
            return int(db.execute("SELECT count(*) FROM market_ticks").fetchone()[0])
        except sqlite3.OperationalError:  # locked by the monitor's write: ask again
            return 0


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("where", ["file", "db"])
def test_the_monitor_records_the_feed_and_a_backtest_runs_on_it(
    tmp_path: Path, redis_url: str, where: str
) -> None:
    recorded = tmp_path / "ticks.csv"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
        "SYMBOLS": "BTC/USDT,ETH/USDT",
        "MARKET_DATA_RECORD": str(recorded) if where == "file" else "db",
        "LOG_LEVEL": "WARNING",
    }
    assert cli("migrate", env=env).returncode == 0
    monitor = subprocess.Popen([*CLI, "monitor"], env=env)
    try:  # the synthetic feed ticks every symbol about once a second
        kept = lambda: _kept_lines(recorded) if where == "file" else _kept_rows(tmp_path)  # noqa: E731
        deadline = time.monotonic() + BOUND
        while kept() < 6 and time.monotonic() < deadline and monitor.poll() is None:
            time.sleep(0.2)
    finally:
        monitor.send_signal(signal.SIGTERM)
        assert monitor.wait(30) == 0
    if where == "db":
        assert not recorded.exists()
        exported = cli("market-data", "export", "--out", str(recorded), env=env)
        assert exported.returncode == 0, exported.stderr
        assert exported.stdout.startswith("signalgate: ")
        assert "ticks written" in exported.stdout

    ticks = read_csv(recorded)  # the reader the backtest uses: in time order, or it refuses
    assert all(isinstance(t, Tick) for t in ticks)
    assert {t.symbol for t in ticks} == {"BTC/USDT", "ETH/USDT"}
    assert len(ticks) >= 6
    assert recorded.read_text().splitlines()[0] == "timestamp,symbol,price,volume"
    backtest = cli("backtest", "--data", str(recorded), "--symbol", "BTC/USDT",
                   "--strategy", "momentum", "--out", str(tmp_path / "report"),
                   env=env)  # fmt: skip
    assert backtest.returncode == 0, backtest.stderr


def test_a_record_file_that_cannot_be_written_stops_the_monitor_with_a_sentence(
    tmp_path: Path, redis_url: str
) -> None:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
        "MARKET_DATA_RECORD": str(tmp_path / "missing" / "ticks.csv"),
    }
    assert cli("migrate", env=env).returncode == 0
    started = cli("monitor", env=env)
    assert started.returncode != 0
    assert "MARKET_DATA_RECORD=" in started.stderr
    assert "cannot be written" in started.stderr
