"""The web process starts light and listens first (issue 15, item 7): a restart refuses alerts
only while the process has no socket, and answers once its app has started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from app.adapters.redis.server import free_port
from app.entrypoints.cli.web_server import listen

# What `signalgate serve` does up to its first answer, in a fresh interpreter: parse the command
# line, build the app as uvicorn does, start it, and take one webhook and one /health.
START_AND_ANSWER = """
import contextlib, gc, json, sys
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
    collector = gc.isenabled()  # off while the app started; on once it has
after = sorted(m for m in sys.modules if m.split(".")[0] in {"ccxt", "aiohttp"})
print(json.dumps({"at_start": at_start, "after_answers": after, "collector_on": collector}))
"""
# Libraries the web process has no use for before its first request (ccxt: the venues; httpx:
# the CLI's own requests; websockets: no WebSocket route; rq: the forwarder enqueues, not web;
# attrs and pydantic.v1: Litestar's plugins for models the app does not have; jinja2 and
# swagger_ui: the console's templates, loaded on its first request, and a package whose files
# alone are served; SQLAlchemy and SQLModel with pydantic: an alert goes to the Redis inbox, and
# SQL is built after the start; prometheus_client: /metrics imports it on the first scrape;
# apprise: the notifier's, and the console's notification page names each channel's service with
# it).
HEAVY = {"ccxt", "aiohttp", "httpx", "websockets", "rq", "attr", "attrs", "jinja2", "swagger_ui",
         "sqlalchemy", "sqlmodel", "pydantic", "prometheus_client", "apprise"}  # fmt: skip


def test_the_web_process_imports_no_venue_library_nor_sql_to_start_and_answer(
    redis_url, sqlite_url
):
    env = {"REDIS_URL": redis_url, "DATABASE_URL": sqlite_url, "LOG_LEVEL": "WARNING"}
    imported = in_a_fresh_interpreter(f"HEAVY = {sorted(HEAVY)!r}\n{START_AND_ANSWER}", env)
    assert imported == {"at_start": [], "after_answers": [], "collector_on": True}


def in_a_fresh_interpreter(code: str, env: dict[str, str]) -> object:
    """What `code` printed last as JSON, run in a fresh interpreter (webhook secret "s")."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "WEBHOOK_SECRET": "s", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


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


# The same start with Redis down: the first alert is spooled to SQL, which the web process has
# not built yet (or is building on its warm-up thread), and reads back as spooled.
SPOOL_AT_START = """
import json
from litestar.testing import TestClient
from app.entrypoints.web.app import create_served_app
with TestClient(create_served_app()) as client:
    alert = {"symbol": "BTCUSDT", "action": "buy", "qty": "0.01", "secret": "s", "id": "first"}
    answer = client.post("/webhook", content=json.dumps(alert))
    assert answer.status_code == 202, answer.text
    signal_id = answer.json()["signal_id"]
    kept = client.get(f"/signals/{signal_id}", headers={"Authorization": "Bearer t"})
    print(json.dumps({"answer": answer.json()["status"], "kept": kept.json()["status"]}))
"""


def test_an_alert_at_start_while_redis_is_down_is_spooled(sqlite_url):
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    env = {"REDIS_URL": nothing_there, "DATABASE_URL": sqlite_url, "API_TOKEN": "t",
           "LOG_LEVEL": "ERROR"}  # fmt: skip
    answered = in_a_fresh_interpreter(SPOOL_AT_START, env)
    assert answered == {"answer": "spooled", "kept": "spooled"}
