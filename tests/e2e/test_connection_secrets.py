"""No stored key leaks (issue 16, Acceptance): the Procfile's processes (`serve --no-forwarder`,
`forward`, `worker`, `monitor`, `notifier`) run at LOG_LEVEL=DEBUG while two ccxt connections to
the local fake Binance hold keys no other text holds: `binance_main`, added with the CLI (keys on
standard input), trades an alert for an account subscribed to a strategy; `binance_api`, added
over the API, is tested with its keys, then with a wrong secret. `/connections` is sent bad
requests carrying the keys. Then the keys are sealed again under a new SECRETS_KEY as the README
says (the processes that open keys on `new,old`, `signalgate connections rekey`, then on `new`):
an alert trades and the connections test ok after each step, and the old key alone opens
nothing. At the end neither key, the wrong secret, nor any SECRETS_KEY given (a malformed one too)
is in any process's output, a CLI command's output, an HTTP answer (API and console), what the
notifier sent, the database file or Redis."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
import redis
from cryptography.fernet import Fernet

from app.adapters.redis.server import free_port
from tests.e2e.conftest import SECRET, TOKEN, redis_server_url, redis_url, wait_until_up  # noqa: F401
from tests.e2e.test_logging import PROCESSES as LOGGED
from tests.fake_binance import FakeBinance, RunningFake, serve_fake_binance
from tests.fake_channels import FakeChannel, serving
from tests.integration.helpers import eventually

CLI = [sys.executable, "-m", "app.entrypoints.cli"]
PROCESSES = {  # the Procfile's, but the strategy (it opens no key)
    **{name: args for name, args in LOGGED.items() if name != "strategy"},
    "notifier": ["notifier"],
}
API_KEY = "e2eKEY-stored-9d41c7aa0b"
API_SECRET = "e2eSECRET-stored-5b2e81f3c6"
WRONG_SECRET = "e2eWRONG-stored-0c7d93ab14"
OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
BAD_KEY = "e2eBADKEY-not-a-fernet-key-4a7c19"
NEVER_SHOWN = {
    "the API key": API_KEY,
    "the API secret": API_SECRET,
    "the wrong secret": WRONG_SECRET,
    "the old SECRETS_KEY": OLD_KEY,
    "the new SECRETS_KEY": NEW_KEY,
    "a SECRETS_KEY that is not a key": BAD_KEY,
}
OPENING_KEYS = ("serve", "worker", "monitor")
BOUND = 30.0  # seconds: a hang, not a speed


class Run:
    """The processes and everything they, the CLI and the HTTP API said."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.base = f"http://127.0.0.1:{env['PORT']}"
        self.http = httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=BOUND
        )
        self.started: dict[str, subprocess.Popen[bytes]] = {}
        self.said: list[str] = []  # HTTP answers and CLI outputs

    def start(self, *names: str, secrets_key: str) -> None:
        self.env["SECRETS_KEY"] = secrets_key
        for name in names:
            with (self.tmp_path / f"{name}.log").open("ab") as output:
                self.started[name] = subprocess.Popen(
                    [*CLI, *PROCESSES[name]], env=self.env, stdout=output, stderr=subprocess.STDOUT
                )
        if "serve" in names:
            wait_until_up(self.base, self.started["serve"])

    def stop(self) -> None:
        """SIGTERM every process, as Heroku stops a dyno; each and its children must go."""
        children = []
        for process in self.started.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                children += psutil.Process(process.pid).children(recursive=True)
            process.terminate()
        for process in self.started.values():
            process.wait(BOUND)
        _, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"still running: {alive}"
        self.started.clear()

    def restart(self, secrets_key: str) -> None:
        """The processes that open keys, started again with another SECRETS_KEY; the forwarder
        and the notifier never read it, and run on."""
        keyed = {name: self.started.pop(name) for name in OPENING_KEYS}
        for process in keyed.values():
            process.terminate()
        for process in keyed.values():
            process.wait(BOUND)
        self.start(*OPENING_KEYS, secrets_key=secrets_key)

    def running(self) -> None:
        for name, process in self.started.items():
            assert process.poll() is None, f"{name} exited with {process.returncode}"

    def cli(self, *args: str, stdin: str = "", check: bool = True, secrets_key: str = "") -> str:
        if secrets_key:
            self.env["SECRETS_KEY"] = secrets_key
        done = subprocess.run(
            [*CLI, *args], env=self.env, input=stdin.encode(), capture_output=True,
            timeout=BOUND, check=False,
        )  # fmt: skip
        said = done.stdout.decode() + done.stderr.decode()
        self.said.append(said)
        assert not check or done.returncode == 0, said
        return said

    def call(self, method: str, path: str, expect: int, text: bool = False, **kwargs: Any) -> Any:
        answer = self.http.request(method, path, **kwargs)
        self.said.append(f"{answer.headers}\n{answer.text}")
        assert answer.status_code == expect, (method, path, answer.status_code, answer.text)
        if text:
            return answer.text
        return answer.json() if answer.content else None

    def trades(self, alert_id: str) -> None:
        """An alert on `trend` becomes one signal, for gamma, executed on the stored connection."""
        body = {"symbol": "BINANCE:BTCUSDT", "action": "buy", "qty": "0.01", "id": alert_id,
                "stop_loss": {"percent": 2}, "secret": SECRET}  # fmt: skip
        answer = self.call("POST", "/webhook/trend", 202, content=json.dumps(body))
        (signal_id,) = answer["signal_ids"]

        def settled() -> Any:
            self.running()
            found = self.call("GET", f"/signals/{signal_id}", 200)
            return found if found["status"] not in ("queued", "spooled", "approved") else None

        signal = eventually(settled, timeout=BOUND, interval=0.2)
        assert signal["status"] == "executed", json.dumps(signal, indent=1)


@pytest.fixture
def venue() -> Iterator[RunningFake]:
    with serve_fake_binance(FakeBinance(api_key=API_KEY, secret=API_SECRET)) as running:
        yield running


@pytest.fixture
def channel() -> Iterator[FakeChannel]:
    with serving("json") as running:
        yield running


@pytest.fixture
def run(
    tmp_path: Path,
    redis_url: str,  # noqa: F811 - the fixture of the same name
    channel: FakeChannel,
) -> Iterator[Run]:
    env = {
        **os.environ,
        "PORT": str(free_port()),
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
        "WEBHOOK_SECRET": SECRET,
        "API_TOKEN": TOKEN,
        "LOG_LEVEL": "DEBUG",
        "ENTRY_POLICY": "add",  # each alert opens a bracket of its own
        "NOTIFY_URLS": f"json://{channel.url.removeprefix('http://')}/hook",
    }
    started = Run(tmp_path, env)
    started.cli("migrate")
    try:
        yield started
    finally:
        started.stop()
        started.http.close()


def test_no_process_answer_or_row_shows_a_stored_key_through_trading_tests_and_a_rekey(
    run: Run,
    venue: RunningFake,
    channel: FakeChannel,
    redis_url: str,  # noqa: F811
) -> None:
    # gamma trades on binance_main, added with the CLI; binance_api, added over HTTP, is tested
    keys = f"{API_KEY}\n{API_SECRET}\n\n"
    run.cli("connections", "add", "binance_main", "--venue", "binance", "--mode", "testnet",
            "--api-url", venue.url, stdin=keys, secrets_key=OLD_KEY)  # fmt: skip
    run.cli("accounts", "add", "gamma", "--connection", "binance_main")
    run.cli("subscriptions", "add", "trend", "gamma")
    run.start(*PROCESSES, secrets_key=OLD_KEY)
    new = {"name": "binance_api", "venue": "binance", "mode": "testnet", "api_key": API_KEY,
           "api_secret": API_SECRET, "api_url": venue.url}  # fmt: skip
    stored = run.call("POST", "/connections", 201, json=new)
    ref = f"/connections/{stored['id']}"

    assert run.call("POST", f"{ref}/test", 200)["last_test"]["status"] == "ok"
    run.trades("tv-1")
    _error_paths(run, new, ref)

    run.call("PATCH", ref, 200, json={"api_secret": WRONG_SECRET})
    failed = run.call("POST", f"{ref}/test", 200)["last_test"]
    assert (failed["status"], "API secret" in failed["reason"]) == ("failed", True), failed
    run.call("PATCH", ref, 200, json={"api_secret": API_SECRET})

    # the rekey, as the README tells it: every process on new,old; rekey; every process on new
    run.restart(f"{NEW_KEY},{OLD_KEY}")
    assert "2 sealed secret(s)" in run.cli("connections", "rekey")
    assert run.call("POST", f"{ref}/test", 200)["last_test"]["status"] == "ok"
    run.trades("tv-2")
    run.restart(NEW_KEY)
    for tested in (ref, "/connections/binance_main"):
        assert run.call("POST", f"{tested}/test", 200)["last_test"]["status"] == "ok"
    run.trades("tv-3")
    run.cli("connections", "list")
    run.call("GET", "/console/", 200, text=True, params={"token": TOKEN}, follow_redirects=True)
    for page in ("connections", "venues", "accounts", "signals", "orders"):  # the console's
        run.call("GET", f"/console/{page}", 200, text=True)
    assert "binance_api" in run.said[-5]
    run.env["SECRETS_KEY"] = OLD_KEY  # the old key alone opens nothing any more
    assert "no key of SECRETS_KEY" in run.cli("connections", "test", "binance_main", check=False)
    run.env["SECRETS_KEY"] = f"{NEW_KEY},{BAD_KEY}"  # a typo while rekeying
    assert "SECRETS_KEY=(hidden) is not valid" in run.cli("connections", "list", check=False)
    run.stop()

    assert channel.received  # the notifier told of the trades: what it sent is looked at too
    assert len(venue.venue.creates) >= 3  # three entries (and their stop-losses) on the venue
    # both connections hold the same keys: each lists the other's stops, which are no orphans
    assert "cancelled orphan order" not in (run.tmp_path / "monitor.log").read_text()
    _assert_shown_nowhere(run, channel, redis_url)


def _error_paths(run: Run, new: dict[str, str], ref: str) -> None:
    """Bad requests carrying the keys: each answer says what is wrong, and never holds them."""
    run.call("POST", "/connections", 400, content=f'{{"api_key": "{API_KEY}", "api_secret": ')
    run.call("POST", "/connections", 409, json=new)  # the name is taken
    run.call("POST", "/connections", 422, json={**new, "name": "other", "mode": "demo"})
    run.call("POST", "/connections", 422, json={**new, "name": "other", "venue": "nowhere"})
    run.call("POST", "/connections", 422, json={**new, "name": "other", "extra": API_SECRET})
    run.call("POST", "/connections", 422, json={**new, "name": "other", "api_secret": 7})
    run.call("POST", "/connections", 422, json={**new, "name": "o", "api_key": API_KEY + " x"})
    run.call("PATCH", "/connections/unknown_one", 404, json={"api_secret": API_SECRET})
    run.call("PATCH", ref, 422, json={"api_secret": API_SECRET[:5]})  # too short
    run.call("POST", "/connections", 401, json=new, headers={"Authorization": "Bearer no"})
    run.call("GET", "/connections", 200)
    run.call("GET", ref, 200)


def _assert_shown_nowhere(run: Run, channel: FakeChannel, redis_at: str) -> None:
    outputs = {name: (run.tmp_path / f"{name}.log").read_text() for name in PROCESSES}
    database = b"".join(path.read_bytes() for path in run.tmp_path.glob("e2e.db*"))
    places = {
        **{f"the output of {name}": text for name, text in outputs.items()},
        "an HTTP answer or a CLI output": "\n".join(run.said),
        "a notification": "\n".join(r.text for r in channel.received),
        "the database": database.decode("latin-1"),  # every row, and every freed page
        "Redis": _redis_text(redis_at),
    }
    for place, text in places.items():
        for what, value in NEVER_SHOWN.items():
            assert value not in text, f"{what} is in {place}"
    assert API_KEY[-4:] in "\n".join(run.said)  # the answers' key hint: they were looked at


def _redis_text(url: str) -> str:
    """Every value of every key in the test's Redis database as text, RQ's compressed job data
    opened."""
    client = redis.Redis.from_url(url)
    found: list[str] = []
    try:
        for key in client.scan_iter():
            match client.type(key).decode():
                case "string":
                    values = [client.get(key)]
                case "hash":
                    values = [v for pair in client.hgetall(key).items() for v in pair]
                case "list":
                    values = client.lrange(key, 0, -1)
                case "set":
                    values = list(client.smembers(key))
                case "zset":
                    values = client.zrange(key, 0, -1)
                case "stream":
                    values = [repr(entry).encode() for entry in client.xrange(key)]
                case _:
                    values = []
            found += [repr(key), *(_opened(v) for v in values)]
    finally:
        client.close()
    return "\n".join(found)


def _opened(value: bytes | None) -> str:
    raw = value or b""
    with contextlib.suppress(zlib.error):
        raw = zlib.decompress(raw)
    return raw.decode("latin-1")
