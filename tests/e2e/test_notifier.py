"""The `notifier` process of the Procfile, started for real with a generic JSON webhook channel
(apprise's `json://`, which needs no API host of its own): `signalgate halt` (another process)
is told on the webhook, and SIGTERM ends the notifier cleanly, as Heroku stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import redis_server_url, redis_url  # noqa: F401 - fixtures
from tests.fake_channels import serving

PASSWORD = "e2e-hook-SECRET"


def test_the_notifier_sends_what_the_kill_switch_tells_and_stops_on_sigterm(
    tmp_path: Path,
    redis_url: str,  # noqa: F811 - the fixture of the same name
) -> None:
    with serving("json") as hook:
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
            "NOTIFY_URLS": f"json://user:{PASSWORD}@{hook.url.removeprefix('http://')}/hook",
            "LOG_LEVEL": "INFO",
        }
        command = [sys.executable, "-m", "app.entrypoints.cli"]
        subprocess.run([*command, "migrate"], env=env, check=True, capture_output=True)
        notifier = subprocess.Popen(
            [*command, "notifier"], env=env, stderr=subprocess.PIPE, text=True
        )
        try:
            halted = subprocess.run(
                [*command, "halt", "--reason", "e2e drill"],
                env=env,
                capture_output=True,
                check=False,
            )
            assert halted.returncode == 0, halted.stderr
            deadline = time.monotonic() + 30
            while not hook.received and time.monotonic() < deadline:
                assert notifier.poll() is None, "the notifier exited"
                time.sleep(0.1)
            [told] = hook.received
            assert (told.body["title"], told.body["message"]) == (
                "Trading halted", "Reason: e2e drill"
            )  # fmt: skip
        finally:
            notifier.send_signal(signal.SIGTERM)
            _, logs = notifier.communicate(timeout=30)
    assert notifier.returncode == 0, logs
    assert "notification trading-halted-" in logs
    assert PASSWORD not in logs
