"""The logs of the Procfile's processes, started for real as it starts them: `serve
--no-forwarder`, `forward`, `worker`, `monitor` and `strategy` each run until an alert has gone
through the web process, the forwarder and the worker, the monitor has published ticks and the
strategy listens to them; then every line each printed is checked."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
import redis

from app.adapters.redis.server import free_port
from app.adapters.redis.ticks import TICKS_CHANNEL
from tests.e2e.conftest import SECRET, TOKEN, wait_until_up
from tests.fake_binance import FakeBinance, serve_fake_binance
from tests.integration.helpers import eventually
from tests.unit.test_logs import parse_logfmt

PROCESSES = {
    "serve": ["serve", "--host", "127.0.0.1", "--no-forwarder"],
    "forwarder": ["forward"],
    "worker": ["worker"],
    "monitor": ["monitor"],
    "strategy": ["strategy"],
}
KEY, VENUE_SECRET = "e2e-binance-key-7f3a", "e2e-binance-secret-1c9e"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
Outputs = dict[str, list[str]]


def run_processes(tmp_path: Path, redis_url: str, **settings: str) -> Outputs:
    """Every process's output lines, once each has done its part."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'logs.db'}",
        "WEBHOOK_SECRET": SECRET,
        "API_TOKEN": TOKEN,
        "STRATEGIES": "momentum",
        **settings,
    }
    command = [sys.executable, "-m", "app.entrypoints.cli"]
    subprocess.run([*command, "migrate"], env=env, capture_output=True, check=True, timeout=60)
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args in PROCESSES.items():
            with (tmp_path / f"{name}.log").open("wb") as output:
                started[name] = subprocess.Popen(
                    [*command, *args], env=env, stdout=output, stderr=subprocess.STDOUT
                )
        _until_each_did_its_part(f"http://127.0.0.1:{port}", redis_url, started)
    finally:
        _stop(started)
    return {name: (tmp_path / f"{name}.log").read_text().splitlines() for name in PROCESSES}


def _until_each_did_its_part(
    base: str, redis_url: str, started: dict[str, subprocess.Popen[bytes]]
) -> None:
    def running() -> None:
        for name, process in started.items():
            assert process.poll() is None, f"{name} exited with {process.returncode}"

    client = redis.Redis.from_url(redis_url)
    ticks = client.pubsub(ignore_subscribe_messages=True)
    ticks.subscribe(TICKS_CHANNEL)
    wait_until_up(base, started["serve"])
    alert = {"symbol": "BTCUSDT", "action": "buy", "qty": "0.001", "secret": SECRET}
    answer = httpx.post(f"{base}/webhook", content=json.dumps(alert), timeout=5)
    assert answer.status_code == 202, answer.text
    signal = f"{base}/signals/{answer.json()['signal_id']}"
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def executed() -> bool:  # the forwarder queued it, the worker ran it
        running()
        found = httpx.get(signal, headers=headers, timeout=5)
        return found.status_code == 200 and found.json()["status"] not in ("queued", "spooled")

    def listening() -> bool:  # the monitor publishes ticks, the strategy is subscribed
        running()
        [(_, subscribers)] = client.pubsub_numsub(TICKS_CHANNEL)
        return ticks.get_message(timeout=0.1) is not None and subscribers >= 2

    try:
        eventually(executed, timeout=30, interval=0.2)
        eventually(listening, timeout=30, interval=0.1)
    finally:
        ticks.close()
        client.close()


def _stop(started: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM, as Heroku stops a dyno; each process and its children must be gone soon after."""
    children = []
    for process in started.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            children += psutil.Process(process.pid).children(recursive=True)
        process.terminate()
    for process in started.values():
        process.wait(20)
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"still running: {alive}"


def records(outputs: Outputs, parse: Any) -> dict[str, list[dict[str, str]]]:
    """Every line parsed as a record: a line that is not one fails here."""
    parsed = {name: [parse(line) for line in lines] for name, lines in outputs.items()}
    for found in parsed.values():
        for record in found:
            assert list(record)[:4] == ["time", "level", "logger", "msg"], record
            assert TIME.fullmatch(record["time"]), record
    return parsed


def assert_no_secret(outputs: Outputs) -> None:
    for name, lines in outputs.items():
        for secret in (SECRET, TOKEN, KEY, VENUE_SECRET):
            assert not any(secret in line for line in lines), f"{name} printed {secret!r}"


@pytest.fixture
def fake_binance() -> Iterator[str]:
    with serve_fake_binance(FakeBinance(api_key=KEY, secret=VENUE_SECRET)) as fake:
        yield fake.url


def test_at_info_every_process_prints_its_lines_with_time_level_and_logger(
    tmp_path: Path, redis_url: str
) -> None:
    outputs = run_processes(tmp_path, redis_url, LOG_LEVEL="INFO", LOG_FORMAT="logfmt")
    found = records(outputs, parse_logfmt)
    expected = {
        "serve": {"signalgate.serve", "uvicorn.error"},
        "forwarder": {"signalgate.forward"},
        "worker": {"signalgate.worker", "rq.worker"},
        "monitor": {"signalgate.monitor", "signalgate"},
        "strategy": {"signalgate.strategy"},
    }
    for name, loggers in expected.items():
        assert loggers <= {r["logger"] for r in found[name] if r["level"] == "info"}, name
    assert_no_secret(outputs)


def test_at_warning_no_process_prints_an_info_line(tmp_path: Path, redis_url: str) -> None:
    outputs = run_processes(tmp_path, redis_url, LOG_LEVEL="WARNING")
    for name, found in records(outputs, parse_logfmt).items():
        assert {r["level"] for r in found} <= {"warning", "error", "critical"}, name
    assert_no_secret(outputs)


def test_json_lines_and_a_venue_key_in_a_ccxt_request_printed_as_stars(
    tmp_path: Path, redis_url: str, fake_binance: str
) -> None:
    outputs = run_processes(
        tmp_path, redis_url, LOG_LEVEL="DEBUG", LOG_FORMAT="json", TRADING_MODE="testnet",
        VENUES="binance", BINANCE_MODE="testnet", BINANCE_API_KEY=KEY,
        BINANCE_API_SECRET=VENUE_SECRET, BINANCE_API_URL=fake_binance,
    )  # fmt: skip
    found = records(outputs, json.loads)
    requests = [
        r["msg"]
        for r in found["worker"]
        if r["logger"].startswith("ccxt") and "X-MBX-APIKEY" in r["msg"]
    ]
    assert requests, "the worker's ccxt logged no signed request"
    assert all("'X-MBX-APIKEY': '***'" in request for request in requests)
    assert_no_secret(outputs)
