"""The PostgreSQL connections each Procfile process holds, counted from the outside while alerts
go through and the read API is busy: none holds more than DB_POOL_SIZE + DB_MAX_OVERFLOW (the
README's "Database connections" table counts on it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url

from app.adapters.redis.server import free_port
from tests.e2e.conftest import SECRET, TOKEN
from tests.integration.conftest import (  # noqa: F401 - fixtures
    postgres_empty_url,
    postgres_server,
    postgres_url,
)
from tests.integration.helpers import eventually

pytestmark = pytest.mark.postgres

POOL, OVERFLOW = 1, 0  # the default pool (5 + 5) would keep more open in web and worker
PROCESSES = {
    "web": ["serve", "--host", "127.0.0.1"],
    "forwarder": ["forward"],
    "worker": ["worker"],
    "monitor": ["monitor"],
    "strategy": ["strategy"],
}
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BOUND = 90.0  # five processes start on a shared machine: a hang, not a speed


def up(base: str, web: subprocess.Popen[bytes]) -> bool:
    assert web.poll() is None, f"the web process exited with {web.returncode}"
    try:
        return httpx.get(base + "/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def held(pid: int, port: int) -> int:
    """TCP connections the process `pid` has established to the database's port."""
    try:
        found = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return 0
    return sum(
        1 for c in found if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


@pytest.fixture
def processes(
    tmp_path: Path,
    redis_url: str,
    postgres_url: str,  # noqa: F811 - the fixture of the same name
) -> Iterator[tuple[str, dict[str, subprocess.Popen[bytes]]]]:
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
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args in PROCESSES.items():
            with (tmp_path / f"{name}.log").open("wb") as log:
                started[name] = subprocess.Popen(
                    [sys.executable, "-m", "app.entrypoints.cli", *args],
                    env=env, stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        eventually(lambda: up(base, started["web"]), timeout=BOUND, interval=0.2)
        yield base, started
    finally:
        for process in started.values():
            process.terminate()
        for process in started.values():
            process.wait(30)


def test_no_process_holds_more_than_its_pool(
    processes: tuple[str, dict[str, subprocess.Popen[bytes]]],
    postgres_url: str,  # noqa: F811 - the fixture of the same name
) -> None:
    base, started = processes
    database_port = make_url(postgres_url).port or 5432
    peaks = dict.fromkeys(started, 0)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for name, process in started.items():
                peaks[name] = max(peaks[name], held(process.pid, database_port))
            time.sleep(0.01)

    def alert(n: int) -> int:
        body = {"symbol": "BTCUSDT", "action": "buy", "qty": "0.001", "secret": SECRET,
                "id": f"pool-{n}"}  # fmt: skip
        return httpx.post(f"{base}/webhook", content=json.dumps(body), timeout=30).status_code

    def read(n: int) -> int:
        path = ("/signals", "/orders", "/positions", "/reconciliation")[n % 4]
        return httpx.get(base + path, headers=AUTH, timeout=60).status_code

    def settled() -> bool:
        found = httpx.get(f"{base}/signals?limit=100", headers=AUTH, timeout=10).json()
        mine = [s for s in found["signals"] if s["strategy"] != "momentum"]
        return len(mine) == 20 and all(s["status"] not in ("queued", "spooled") for s in mine)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(32) as pool:
            assert set(pool.map(alert, range(20))) == {202}
            assert set(pool.map(read, range(400))) == {200}
        eventually(settled, timeout=BOUND, interval=0.2)
    finally:
        done.set()
        sampler.join()
    print(f"PostgreSQL connections held at most, by process: {peaks}")  # shown with -s
    for name, process in started.items():
        assert process.poll() is None, f"{name} exited with {process.returncode}"
    assert all(peak <= POOL + OVERFLOW for peak in peaks.values()), peaks
    assert peaks["web"] == POOL + OVERFLOW  # the reads used the whole pool
    assert min(peaks["forwarder"], peaks["worker"], peaks["monitor"]) >= 1
