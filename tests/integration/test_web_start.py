"""The web process starts light and listens first (issue 15, item 7): a restart refuses alerts
only while the process has no socket, and answers once its app has started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from app.entrypoints.cli.web_server import listen

# What `signalgate serve` does up to its first answer, in a fresh interpreter: parse the command
# line, build the app as uvicorn does, start it, and take one webhook and one /health.
START_AND_ANSWER = """
import contextlib, json, sys
from app.entrypoints.cli.main import main
with contextlib.suppress(SystemExit):
    main(["serve", "--help"])
from app.entrypoints.web.app import create_served_app
app = create_served_app()
at_start = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY or m == "pydantic.v1")
from litestar.testing import TestClient
with TestClient(app) as client:
    assert client.get("/health").status_code == 200
    alert = {"symbol": "BTCUSDT", "action": "buy", "qty": "0.01", "secret": "s"}
    assert client.post("/webhook", content=json.dumps(alert)).status_code == 202
after = sorted(m for m in sys.modules if m.split(".")[0] in {"ccxt", "aiohttp"})
print(json.dumps({"at_start": at_start, "after_answers": after}))
"""
# Libraries the web process has no use for before its first request (ccxt: the venues; httpx:
# the CLI's own requests; websockets: no WebSocket route; rq: the forwarder enqueues, not web;
# attrs and pydantic.v1: Litestar's plugins for models the app does not have; jinja2 and
# swagger_ui: the console's templates, loaded on its first request, and a package whose files
# alone are served; apprise: the notifier's, and the console's notification page names each
# channel's service with it).
HEAVY = {"ccxt", "aiohttp", "httpx", "websockets", "rq", "attr", "attrs", "jinja2", "swagger_ui",
         "apprise"}  # fmt: skip


def test_the_web_process_imports_no_venue_library_to_start_and_answer(redis_url, sqlite_url):
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": sqlite_url,
           "WEBHOOK_SECRET": "s", "LOG_LEVEL": "WARNING"}  # fmt: skip
    code = f"HEAVY = {sorted(HEAVY)!r}\n{START_AND_ANSWER}"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == {"at_start": [], "after_answers": []}


def test_listen_takes_connections_before_anything_accepts_them():
    sock = listen("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port), timeout=5)  # queued, not refused
        client.close()
    finally:
        sock.close()


def test_a_port_in_use_is_refused_with_what_to_do():
    taken = listen("127.0.0.1", 0)
    try:
        with pytest.raises(SystemExit) as stopped:
            listen("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
    message = str(stopped.value)
    assert message.startswith("signalgate: cannot listen on 127.0.0.1:")
    assert message.endswith("stop what uses that port or set PORT to another.")
