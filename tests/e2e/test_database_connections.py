"""The PostgreSQL connections each Procfile process holds, counted from outside while alerts go
through and the read API is busy: none holds more than DB_POOL_SIZE + DB_MAX_OVERFLOW (the
README's "Database connections" counts on it). Printed with -s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from app.adapters.redis.server import free_port
from app.entrypoints.cli.main import PROCFILE
from tests.e2e.conftest import SECRET, TOKEN, wait_until_up
from tests.integration.conftest import (  # noqa: F401 - fixtures
    postgres_empty_url,
    postgres_server,
    postgres_url,
)
from tests.integration.helpers import eventually

pytestmark = pytest.mark.postgres

POOL, OVERFLOW = 1, 0  # the defaults (5 + 5) leave the web process room its reads would not fill
ALERTS, READS = 20, 400
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOUND = 90.0  # five processes on a shared machine: a hang, not a speed
Started = dict[str, subprocess.Popen[bytes]]


def held(pid: int, port: int) -> int:
    """The TCP connections process `pid` has established to the database's port."""
    try:
        found = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return 0
    return sum(1 for c in found if c.raddr and c.raddr.port == port and c.status == "ESTABLISHED")


@pytest.fixture
def processes(
    tmp_path: Path,
    redis_url: str,
    postgres_url: str,  # noqa: F811 - the fixture of the same name
) -> Iterator[tuple[str, Started]]:
    """The Procfile's processes (as `signalgate run` starts them) on one PostgreSQL database."""
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "REDIS_URL": redis_url,
        "DATABASE_URL": postgres_url,
        "DB_POOL_SIZE": str(POOL),
        "DB_MAX_OVERFLOW": str(OVERFLOW),
        "WEBHOOK_SECRET": SECRET,
        "API_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
        "STRATEGIES": "momentum",
    }
    started: Started = {}
    try:
        for name, command in PROCFILE.items():
            args = [*command.split(), *(["--host", "127.0.0.1"] if name == "web" else [])]
            with (tmp_path / f"{name}.log").open("wb") as log:
                started[name] = subprocess.Popen(
                    [sys.executable, "-m", "app.entrypoints.cli", *args],
                    env=env, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, started["web"])
        yield base, started
    finally:
        for process in started.values():
            process.terminate()
        for process in started.values():
            process.wait(30)


def test_no_process_holds_more_than_its_pool(
    processes: tuple[str, Started],
    postgres_url: str,  # noqa: F811 - the fixture of the same name
) -> None:
    base, started = processes
    database_port = make_url(postgres_url).port or 5432
    peaks = dict.fromkeys(started, 0)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            for name, process in started.items():
                peaks[name] = max(peaks[name], held(process.pid, database_port))

    def alert(n: int) -> int:
        body = {"symbol": "BTCUSDT", "action": "buy", "qty": "0.001", "secret": SECRET,
                "id": f"pool-{n}", "strategy": "pool"}  # fmt: skip
        return httpx.post(f"{base}/webhook", content=json.dumps(body), timeout=30).status_code

    def read(n: int) -> int:
        path = ("/signals", "/orders", "/positions", "/reconciliation")[n % 4]
        return httpx.get(base + path, headers=AUTH, timeout=60).status_code

    def settled() -> bool:
        found = httpx.get(f"{base}/signals?strategy=pool&limit=100", headers=AUTH, timeout=10)
        mine = found.json()["signals"]
        return len(mine) == ALERTS and all(s["status"] not in ("queued", "spooled") for s in mine)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(32) as pool:
            assert set(pool.map(alert, range(ALERTS))) == {202}
            assert set(pool.map(read, range(READS))) == {200}
        eventually(settled, timeout=BOUND, interval=0.2)
    finally:
        done.set()
        sampler.join()
    print(f"PostgreSQL connections held at most, by process: {peaks}")
    for name, process in started.items():
        assert process.poll() is None, f"{name} exited with {process.returncode}"
    assert all(peak <= POOL + OVERFLOW for peak in peaks.values()), peaks
    assert peaks["web"] == POOL + OVERFLOW  # 32 reads at once: the whole pool
    assert min(peaks["forwarder"], peaks["worker"], peaks["monitor"]) >= 1
