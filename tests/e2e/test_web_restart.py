"""Restarts of the web process lose no alert (issue 15, item 7).

- SIGTERM lets a request the server has begun reading finish and answer, while new connections
  are refused at once; a request that never ends holds the shut-down no longer than the bound.
- The fault run: alerts arrive at 10/s while the web process is restarted twice (SIGTERM, then a
  new process on the same port, as a platform restarts a dyno); a client that retries a refused
  or cut connection for 1.5 s sees every alert accepted, and the database holds each one once.
  It leaves what it saw in `run.json` in its tmp_path: how long each restart took and each alert.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from app.adapters.redis.server import free_port
from app.entrypoints.cli.web_server import GRACEFUL_SHUTDOWN_SECONDS
from tests.e2e.conftest import SECRET, TOKEN, wait_until_up

CLI = [sys.executable, "-m", "app.entrypoints.cli"]
RATE = 10  # alerts a second
RESTARTS = 2
STEADY = 1.5  # seconds of alerts before, between and after the restarts
RETRY_FOR = 1.5  # seconds a client keeps retrying one alert
RETRY_EVERY = 0.2  # seconds between its tries (more often only loads the shared CPU)
BOUND = 60.0  # seconds for anything to happen: a hang, not a speed
# After its graceful stop uvicorn raises the signal it caught again, so the process ends as one
# killed by SIGTERM (143 in Heroku's log), as a platform expects.
STOPPED = (0, -signal.SIGTERM)


def alert(number: int, run: str) -> bytes:
    return json.dumps({
        "symbol": "BINANCE:BTCUSDT",
        "action": "buy",
        "qty": "0.001",
        "strategy": "restart-run",
        "id": f"{run}-{number}",
        "secret": SECRET,
    }).encode()  # fmt: skip


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def read_response(sock: socket.socket) -> bytes:
    sock.settimeout(BOUND)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def begin_webhook(port: int, body: bytes) -> socket.socket:
    """A webhook request whose head the app has read and whose body it is waiting for: the server
    says `100 Continue` when the handler starts reading the body."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
    head = (
        f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    )
    sock.sendall(head.encode())
    sock.settimeout(BOUND)
    assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue"), "the app did not start reading"
    return sock


def test_sigterm_lets_an_alert_being_received_finish(start_service):
    service = start_service()
    port = int(service.env["PORT"])
    body = alert(1, "sigterm")
    sock = begin_webhook(port, body)
    service.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + BOUND
    while not refused(port):  # shutting down: no new connection is taken
        assert time.monotonic() < deadline, "the web process still accepts connections"
        time.sleep(0.05)
    sock.sendall(body)
    response = read_response(sock)
    sock.close()
    status, _, rest = response.partition(b"\r\n")
    assert status.startswith(b"HTTP/1.1 202"), response
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["status"] == "queued"
    assert service.process.wait(BOUND) in STOPPED


def test_a_request_that_never_ends_holds_the_shutdown_no_longer_than_the_bound(start_service):
    service = start_service()
    sock = begin_webhook(int(service.env["PORT"]), alert(1, "stuck"))  # its body never comes
    stopping = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    try:
        code = service.process.wait(GRACEFUL_SHUTDOWN_SECONDS + 20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {GRACEFUL_SHUTDOWN_SECONDS + 20} s after SIGTERM")
    finally:
        sock.close()
    assert code in STOPPED
    assert time.monotonic() - stopping >= GRACEFUL_SHUTDOWN_SECONDS - 1  # it did wait for it


@dataclass
class Outcome:
    number: int
    sent_at: float
    attempts: int = 0
    code: int | None = None
    answer: dict[str, object] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    answered_at: float | None = None


def sender() -> httpx.Client:
    """One client for every alert, each try on a connection of its own (no keep-alive)."""
    return httpx.Client(
        timeout=httpx.Timeout(BOUND, connect=1.0),
        limits=httpx.Limits(max_keepalive_connections=0),
    )


def send_with_retries(client: httpx.Client, url: str, outcome: Outcome, body: bytes) -> None:
    """As a webhook sender that retries for RETRY_FOR s: a refused, reset or cut connection is
    tried again; any HTTP answer ends it."""
    while True:
        outcome.attempts += 1
        try:
            response = client.post(url, content=body)
        except httpx.TransportError as exc:
            outcome.errors.append(type(exc).__name__)
            waited = time.monotonic() - outcome.sent_at
            if waited >= RETRY_FOR:
                return
            time.sleep(min(RETRY_EVERY, RETRY_FOR - waited))  # the last try at RETRY_FOR
            continue
        outcome.code = response.status_code
        outcome.answer = response.json()
        outcome.answered_at = time.monotonic()
        return


@dataclass
class Restart:
    stopping: float  # SIGTERM sent
    stopped: float  # the process ended
    listening: float  # the new process took a connection
    up: float  # the new process answered /health


class Web:
    """The web process, restarted as a platform restarts a dyno: SIGTERM, wait for its end, then a
    new process on the same port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.command = serve_command()  # asked once: not in a restart's time
        self.port = int(env["PORT"])
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts: list[Restart] = []

    def start(self) -> float:
        """Start the web process; when it first took a connection."""
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + BOUND
        while refused(self.port):
            assert self.process.poll() is None, "the web process ended at start"
            assert time.monotonic() < deadline, f"nothing listens on {self.port}"
            time.sleep(0.01)
        listening = time.monotonic()
        wait_until_up(self.base, self.process)
        return listening

    def restart(self) -> None:
        assert self.process is not None
        stopping = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(BOUND) in STOPPED
        stopped = time.monotonic()
        listening = self.start()
        self.restarts.append(Restart(stopping, stopped, listening, time.monotonic()))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(BOUND)


def serve_command() -> list[str]:
    """`signalgate serve` on 127.0.0.1, with its forwarder left to a process of its own (the run
    restarts the web process alone) while serve still starts one."""
    usage = subprocess.run([*CLI, "serve", "--help"], capture_output=True, text=True, check=True)
    extra = ["--no-forwarder"] if "--no-forwarder" in usage.stdout else []
    return [*CLI, "serve", "--host", "127.0.0.1", *extra]


@pytest.fixture
def processes(tmp_path: Path, redis_url: str) -> Iterator[tuple[Web, str]]:
    database = f"sqlite:///{tmp_path / 'restart.db'}"
    env = {
        **os.environ,
        "PORT": str(free_port()),
        "REDIS_URL": redis_url,
        "DATABASE_URL": database,
        "WEBHOOK_SECRET": SECRET,
        "API_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_PER_MINUTE": "100000",
    }
    subprocess.run([*CLI, "migrate"], env=env, check=True, capture_output=True)
    with (tmp_path / "forwarder.log").open("ab") as out:
        forwarder = subprocess.Popen(
            [*CLI, "forward"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    web = Web(env, tmp_path / "web.log")
    try:
        web.start()
        yield web, database
    finally:
        web.stop()
        forwarder.terminate()
        forwarder.wait(BOUND)


def stored(database: str, count: int) -> dict[str, str]:
    """alert id -> signal id of the run's signals in SQL, once the forwarder has moved `count`
    (or BOUND has passed); an alert stored twice fails."""
    engine = sqlalchemy.create_engine(database)
    deadline = time.monotonic() + BOUND
    try:
        while True:
            with engine.connect() as conn:
                rows = conn.execute(
                    sqlalchemy.text("SELECT id, alert_id FROM signals WHERE strategy = :s"),
                    {"s": "restart-run"},
                ).all()
            if len(rows) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        engine.dispose()
    kept = {alert_id: signal_id for signal_id, alert_id in rows}
    assert len(kept) == len(rows), "an alert is stored twice"
    return kept


@pytest.mark.quiet  # a restart within the client's 1.5 s, not within four test suites' load
def test_restarts_of_the_web_process_refuse_and_lose_no_alert(processes, tmp_path):
    web, database = processes
    run = f"restart-{os.getpid()}-{time.time_ns()}"
    outcomes: list[Outcome] = []
    senders: list[threading.Thread] = []
    done = threading.Event()
    client = sender()
    start = time.monotonic()

    def send_all() -> None:
        while not done.is_set():
            outcome = Outcome(len(outcomes), time.monotonic())
            outcomes.append(outcome)
            body = alert(outcome.number, run)
            thread = threading.Thread(
                target=send_with_retries, args=(client, f"{web.base}/webhook", outcome, body)
            )
            thread.start()
            senders.append(thread)
            done.wait(max(0.0, start + len(outcomes) / RATE - time.monotonic()))

    feeding = threading.Thread(target=send_all)
    feeding.start()
    try:
        for _ in range(RESTARTS):
            time.sleep(STEADY)
            web.restart()
        time.sleep(STEADY)
    finally:
        done.set()
        feeding.join(BOUND)
        for thread in senders:
            thread.join(BOUND)
        client.close()

    (tmp_path / "run.json").write_text(json.dumps({
        "restarts": [
            {"at_s": round(r.stopping - start, 3), "stop_s": round(r.stopped - r.stopping, 3),
             "listen_s": round(r.listening - r.stopped, 3), "start_s": round(r.up - r.stopped, 3)}
            for r in web.restarts
        ],
        "alerts": [
            {"n": o.number, "at_s": round(o.sent_at - start, 3), "tries": o.attempts,
             "errors": o.errors, "code": o.code,
             "answer_s": round(o.answered_at - o.sent_at, 3) if o.answered_at else None}
            for o in outcomes
        ],
    }, indent=1))  # fmt: skip
    # The restarts happened while alerts were arriving.
    for r in web.restarts:
        assert any(r.stopping <= o.sent_at <= r.up for o in outcomes), "none sent in a restart"
    # No alert refused or lost: each answered 202 queued, or 200 duplicate of its own first copy
    # (a retry whose first try was kept though its answer was cut).
    unanswered = [(o.number, o.errors) for o in outcomes if o.code is None]
    assert unanswered == [], f"refused for {RETRY_FOR} s: {unanswered}"
    answers = {o.number: (o.code, o.answer.get("status")) for o in outcomes}
    assert set(answers.values()) <= {(202, "queued"), (200, "duplicate")}, answers
    # The database holds each alert once, under the signal id its answer named.
    kept = stored(database, len(outcomes))
    assert {f"{run}-{o.number}": o.answer["signal_id"] for o in outcomes} == kept
