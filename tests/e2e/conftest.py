"""The processes of the Procfile, started for real and spoken to over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from app.adapters.redis.server import free_port
from tests.integration.conftest import redis_server_url, redis_url  # noqa: F401 - fixtures

SECRET = "e2e-secret-value"
TOKEN = "e2e-token"


class Service:
    def __init__(self, process: subprocess.Popen[bytes], port: int, env: dict[str, str]) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.env = env

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the process exited with {process.returncode}")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the service did not come up within 30 s")


def stop_session(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM a process started in a session of its own (`signalgate run`) and its children, as
    Heroku stops a dyno: each must be gone soon after."""
    children = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(20)
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"still running after the run stopped: {alive}"


@pytest.fixture
def start_service(
    tmp_path: Path,
    redis_url: str,  # noqa: F811 - the fixture of the same name
) -> Iterator[Callable[..., Service]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*serve_args: str, **settings: str) -> Service:
        """`signalgate serve` (alone: with its forwarder child unless `--no-forwarder`)."""
        port = free_port()
        env = {
            **os.environ,
            "PORT": str(port),
            "REDIS_URL": redis_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
            "WEBHOOK_SECRET": SECRET,
            "API_TOKEN": TOKEN,
            "LOG_LEVEL": "WARNING",
            **settings,
        }
        subprocess.run(
            [sys.executable, "-m", "app.entrypoints.cli", "migrate"], env=env, check=True
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "app.entrypoints.cli", "serve", "--host", "127.0.0.1",
             *serve_args],
            env=env,
        )  # fmt: skip
        started.append(process)
        service = Service(process, port, env)
        wait_until_up(service.base, process)
        return service

    yield start
    for process in started:
        try:
            children = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        process.terminate()
        process.wait(15)
        _, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"still running after the service stopped: {alive}"
