"""`signalgate run` reads `.env` from the directory it starts in, as `.env.example` says, and
hands it to every process; a variable set in the environment wins over the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from app.adapters.redis.server import free_port
from tests.e2e.conftest import stop_session
from tests.integration.helpers import eventually

TOKEN = "token-from-dotenv"
BOUND = 90.0  # five processes start on a shared machine: a hang, not a speed


def test_run_takes_dot_env_where_the_environment_says_nothing(
    tmp_path: Path, redis_url: str
) -> None:
    port, unused = free_port(), free_port()
    database = tmp_path / "from-dotenv.db"
    (tmp_path / ".env").write_text(
        f"PORT={unused}\n"  # the environment's PORT wins
        f"API_TOKEN='{TOKEN}'\n"
        f"DATABASE_URL=sqlite:///{database}\n"
        "LOG_LEVEL=WARNING\n"
    )
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("API_TOKEN", "DATABASE_URL", "LOG_LEVEL", "WEBHOOK_SECRET")
    }
    env |= {"PORT": str(port), "REDIS_URL": redis_url}
    output = tmp_path / "run.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.entrypoints.cli", "run"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def sample_executed() -> bool:  # the web, the forwarder and the worker read the same file
        assert process.poll() is None, output.read_text()
        try:
            found = httpx.get(f"{base}/signals?strategy=demo", headers=auth, timeout=5)
        except httpx.HTTPError:
            return False
        return found.status_code == 200 and [s["status"] for s in found.json()["signals"]] == [
            "executed"
        ]

    try:
        eventually(sample_executed, timeout=BOUND, interval=0.3)
        # the file's API_TOKEN is asked for, even on this machine
        assert httpx.get(f"{base}/signals", timeout=5).status_code == 401
        assert database.exists()
    finally:
        stop_session(process)
    printed = output.read_text()
    assert "signalgate: from .env: API_TOKEN, DATABASE_URL, LOG_LEVEL" in printed
    assert TOKEN not in printed
