"""The Procfile's forwarder, a process of its own beside `serve --no-forwarder`: it moves what the
web process accepted, and `/ready` says when it is gone and when a new one is back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from tests.e2e.conftest import SECRET, Service
from tests.integration.helpers import eventually, forwarded

BOUND = 30.0  # processes start on a shared machine: a hang, not a speed


def forwarder_state(service: Service) -> str:
    answer = service.get("/ready")
    assert answer.status_code == 200, answer.text  # a forwarder never decides readiness
    return str(answer.json()["processes"]["forwarder"])


@pytest.fixture
def forwarders() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.terminate()
        process.wait(15)


def test_the_forwarder_process_moves_alerts_and_ready_sees_it_die_and_come_back(
    start_service, redis_url, forwarders
):
    service = start_service("--no-forwarder")
    children = psutil.Process(service.process.pid).children(recursive=True)
    assert not [c for c in children if "forward" in c.cmdline()]
    assert forwarder_state(service).startswith("no forwarder has beaten yet")
    body = {"symbol": "BTCUSDT", "action": "buy", "qty": "0.001", "secret": SECRET}
    answer = httpx.post(f"{service.base}/webhook", content=json.dumps(body), timeout=5)
    assert answer.status_code == 202, answer.text  # kept in the inbox meanwhile

    def start_forwarder() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.entrypoints.cli", "forward"], env=service.env
        )
        forwarders.append(process)
        return process

    first = start_forwarder()
    eventually(lambda: forwarded(redis_url, answer.json()["signal_id"]), timeout=BOUND)
    eventually(lambda: forwarder_state(service) == "ok", timeout=BOUND)
    first.kill()  # as a dyno dies: nothing runs on the way out
    first.wait()
    said = eventually(lambda: (s := forwarder_state(service)) != "ok" and s, timeout=BOUND)
    assert said.startswith("no forwarder heartbeat for "), said
    start_forwarder()  # the platform starts it again
    eventually(lambda: forwarder_state(service) == "ok", timeout=BOUND)


_BUSY = "while True: pass"


def test_a_forwarder_stops_soon_after_sigterm_on_a_saturated_machine(start_service, redis_url):
    """The forwarder yields the CPU to the web processes (a lower priority), but not so far that
    it cannot stop: at nice 19 it got half a percent of a machine whose cores were all busy, and
    its SIGTERM took over 20 s (make test's e2e logging run, four test workers on two cores)."""
    service = start_service("--no-forwarder")
    forwarder = subprocess.Popen(
        [sys.executable, "-m", "app.entrypoints.cli", "forward"], env=service.env
    )
    eventually(lambda: forwarder_state(service) == "ok", timeout=BOUND)
    busy = [subprocess.Popen([sys.executable, "-c", _BUSY]) for _ in range(2 * psutil.cpu_count())]
    try:
        time.sleep(0.5)  # the busy ones running
        forwarder.terminate()
        forwarder.wait(20)
    finally:
        for process in [*busy, forwarder]:
            process.kill()
            process.wait()
