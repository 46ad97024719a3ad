"""`signalgate run` (what `make run` calls) as a user runs it: settings from `.env` in the current
directory, a variable of the environment winning over the file, and the Procfile's processes --
the forwarder one of its own -- until `/ready` says ready."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]

from app.adapters.redis.server import free_port
from tests.integration.helpers import eventually

BOUND = 90.0  # five processes start on a shared machine: a hang, not a speed
FROM_FILE, FROM_ENVIRONMENT = "token-from-the-file", "token-from-the-environment"


def test_run_reads_env_lets_the_environment_win_and_starts_the_forwarder(
    tmp_path: Path, redis_url: str
) -> None:
    port = free_port()
    (tmp_path / ".env").write_text(
        "# copied from .env.example and edited\n"
        f"PORT={port}\n"
        f"API_TOKEN={FROM_FILE}\n"
        f"DATABASE_URL=sqlite:///{tmp_path / 'run.db'}\n"
        f"REDIS_URL={redis_url}\n"
        "LOG_LEVEL=WARNING\n"
    )
    mine = ("PORT", "DATABASE_URL", "REDIS_URL", "LOG_LEVEL")
    env = {k: v for k, v in os.environ.items() if k not in mine} | {"API_TOKEN": FROM_ENVIRONMENT}
    output = tmp_path / "run.log"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.entrypoints.cli", "run"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"  # the file's PORT

    def ready(token: str) -> httpx.Response | None:
        assert process.poll() is None, output.read_text()
        try:
            answer = httpx.get(f"{base}/ready", headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError:
            return None
        return answer if answer.status_code == 200 else None

    try:
        answer = eventually(lambda: ready(FROM_ENVIRONMENT), timeout=BOUND, interval=0.5)
        assert answer.json()["checks"]["forwarder"] == "ok"
        refused = httpx.get(f"{base}/signals", headers={"Authorization": f"Bearer {FROM_FILE}"})
        assert refused.status_code == 401  # the environment's token won
        started = psutil.Process(process.pid).children(recursive=True)  # honcho runs `sh -c`
        forwarders = [p for p in started if p.cmdline()[-2:] == ["app.entrypoints.cli", "forward"]]
        assert len(forwarders) == 1
        assert "serve" not in forwarders[0].parent().cmdline()  # a process of its own
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(BOUND)
    printed = output.read_text()
    assert "signalgate: read 4 setting(s) from .env; the environment's own API_TOKEN kept" in (
        printed
    )
    assert FROM_FILE not in printed
