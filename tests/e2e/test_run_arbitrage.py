"""The README's arbitrage example, run for real: `signalgate run` with two paper venues 60 bps
apart -- web, worker, monitor and strategy processes, Redis, SQLite -- until units of linked
signals have been executed, both legs of each filled on their own venue."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from app.adapters.redis.server import free_port
from tests.e2e.conftest import stop_session

TOKEN = "e2e-token"


def test_the_readme_arbitrage_example_executes_units_of_linked_signals(
    tmp_path: Path,
    redis_url: str,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "API_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
        # as in the README
        "VENUES": "paper,paper_rich",
        "PAPER_RICH_PRICE_OFFSET_BPS": "60",
        "PAPER_RICH_BALANCES": "USDT=50000,BTC=1,ETH=10",
        "STRATEGIES": "arbitrage",
        "STRATEGY_SETTINGS": '{"arbitrage": {"notional": 200}}',
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.entrypoints.cli", "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        units = _executed_units(f"http://127.0.0.1:{port}", process)
    finally:
        stop_session(process)
    unit = next(iter(units.values()))
    assert [leg["signal"]["link"]["leg"] for leg in unit] == [0, 1]
    buy, sell = unit
    assert (buy["action"], buy["signal"]["venue"]) == ("buy", "paper")
    assert (sell["action"], sell["signal"]["venue"]) == ("sell", "paper_rich")
    assert buy["signal"]["quantity"] == sell["signal"]["quantity"]
    assert "unit executed, every leg filled" in buy["reason"]


def _executed_units(base: str, process: subprocess.Popen[bytes]) -> dict[str, list[Any]]:
    """The units whose every leg is executed, once there is one (within 60 s)."""
    deadline = time.monotonic() + 60
    headers = {"Authorization": f"Bearer {TOKEN}"}
    while time.monotonic() < deadline:
        assert process.poll() is None, f"signalgate run exited with {process.returncode}"
        try:
            response = httpx.get(
                f"{base}/signals", params={"strategy": "arbitrage"}, headers=headers, timeout=2
            )
        except httpx.HTTPError:
            time.sleep(0.5)
            continue
        units: dict[str, list[Any]] = defaultdict(list)
        for row in response.json().get("signals", []):
            units[row["signal"]["link"]["unit"]].append(row)
        done = {
            unit: sorted(legs, key=lambda row: row["signal"]["link"]["leg"])
            for unit, legs in units.items()
            if len(legs) == 2 and all(row["status"] == "executed" for row in legs)
        }
        if done:
            return done
        time.sleep(0.5)
    raise AssertionError("no unit of linked signals was executed within 60 s")
