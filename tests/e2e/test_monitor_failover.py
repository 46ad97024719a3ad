"""Two `signalgate monitor` processes: one acts, the other stands by; the active one is killed
and the standby takes over the paper venues and the brackets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from app.adapters.redis.lease import HEARTBEAT_KEY, LEASE_KEY
from app.bootstrap.monitor import LEASE_SECONDS
from tests.e2e.conftest import Service
from tests.e2e.test_serve import send
from tests.integration.helpers import eventually, forwarded

BOUND = 60.0  # a hang, not a speed
# two lease periods, and slack for starting processes on a busy two-core test machine
TAKEOVER_BOUND = 2 * LEASE_SECONDS + 10


@pytest.fixture
def monitors() -> Iterator[Callable[[dict[str, str], Path], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "app.entrypoints.cli", "monitor"],
                env={**env, "LOG_LEVEL": "INFO"},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def executed(service: Service) -> tuple[str, dict[str, object]]:
    """An alert sent, executed by a burst worker (through the monitor's paper venue): its signal."""
    sent = send(service, "--symbol", "BINANCE:BTCUSDT", "--qty", "0.01", "--tp", "5%", "--sl", "5%")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    signal_id = sent.stdout.split('"signal_id":"')[1].split('"')[0]
    eventually(lambda: forwarded(service.env["REDIS_URL"], signal_id))
    worker = subprocess.run(
        [sys.executable, "-m", "app.entrypoints.cli", "worker", "--burst"],
        env=service.env, capture_output=True, timeout=BOUND, check=False,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stderr
    shown: dict[str, object] = service.get(f"/signals/{signal_id}").json()
    assert shown["status"] == "executed", shown["history"]
    return signal_id, shown


def legs(shown: dict[str, object]) -> dict[str, str]:
    orders = shown["orders"]
    assert isinstance(orders, list)
    return {o["leg"]: o["state"] for o in orders}


def test_the_standby_monitor_takes_over_when_the_active_one_is_killed(
    start_service: Callable[..., Service],
    monitors: Callable[[dict[str, str], Path], subprocess.Popen[bytes]],
    redis_url: str,
    tmp_path: Path,
) -> None:
    service = start_service(ENTRY_POLICY="add")  # the second alert adds to the position
    store = redis.Redis.from_url(redis_url)
    first = monitors(service.env, tmp_path / "first.log")
    holder = eventually(lambda: store.get(LEASE_KEY), timeout=BOUND)
    eventually(lambda: store.get(HEARTBEAT_KEY), timeout=BOUND)
    second_log = tmp_path / "second.log"
    second = monitors(service.env, second_log)
    eventually(lambda: "standing by" in second_log.read_text(), timeout=BOUND)
    assert second.poll() is None

    first_id, before = executed(service)  # through the first monitor's paper venue
    assert legs(before) == {"entry": "filled", "sl": "accepted"}
    assert store.get(LEASE_KEY) == holder  # the standby took nothing meanwhile

    os.killpg(first.pid, signal.SIGKILL)  # as a dyno dies: no clean-up, the lease is not freed
    first.wait()
    killed = time.time()
    taken = eventually(lambda: (t := store.get(LEASE_KEY)) and t != holder and t, TAKEOVER_BOUND)
    assert taken != holder
    eventually(lambda: float(store.get(HEARTBEAT_KEY) or 0) > killed, timeout=BOUND)
    assert "taking over" in second_log.read_text()

    # the first bracket is still protected: its stop-loss rests, read back by the new monitor
    assert legs(service.get(f"/signals/{first_id}").json())["sl"] == "accepted"
    _, after = executed(service)  # a new signal executes through the new monitor's paper venue
    assert legs(after) == {"entry": "filled", "sl": "accepted"}
    positions = service.get("/positions").json()  # marked on the paper venue the new one hosts
    assert [(p["state"], Decimal(p["amount"])) for p in positions] == [
        ("open", Decimal("0.01"))
    ] * 2
    assert all(p["mark_price"] is not None for p in positions)
    ready = service.get("/ready")
    assert (ready.status_code, ready.json()["processes"]["monitor"]) == (200, "ok")
    assert second.poll() is None
    store.close()
