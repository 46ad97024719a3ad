"""What the fault run needs: a Redis of its own to kill and start again, the Procfile's processes
under a small supervisor, a fresh database, and the alerts it sends."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import sqlalchemy

from app.adapters.redis.server import answers, free_port, redis_server_binary
from app.config.settings import database_url
from tests.integration.conftest import POSTGRES_URL

CLI = [sys.executable, "-m", "app.entrypoints.cli"]


class PrivateRedis:
    """A redis-server on a port of its own, so that the run can kill it without disturbing other
    tests. Append-only file, fsync on every write (`appendfsync always`): a SIGKILL loses no
    write Redis acknowledged, so what was queued survives the restart, as on a managed Redis
    with persistence. (`everysec` would do too against a killed process, whose writes the
    kernel keeps; `always` also holds against a lost machine and makes the run repeatable.)"""

    def __init__(self, directory: Path) -> None:
        binary = redis_server_binary()
        assert binary is not None, "the fault run needs redis-server"
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--dir", str(self.directory),
                "--appendonly", "yes",
                "--appendfsync", "always",
                "--save", "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not answers(self.url, timeout=0.2):
            assert self.process.poll() is None, "redis-server exited at start"
            assert time.monotonic() < deadline, "redis-server did not answer within 10 s"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@dataclass
class Supervised:
    name: str
    args: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    killed: int = 0
    exited: list[int] = field(default_factory=list)  # exit codes of deaths nobody asked for


class Supervisor:
    """Starts processes as the platform does, and starts again the ones that die (Heroku restarts
    a crashed dyno); it counts what it killed and what died on its own."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: dict[str, Supervised] = {}
        self.down: set[str] = set()  # killed on purpose, not to be started by `revive`

    def add(self, name: str, *args: str) -> Supervised:
        supervised = Supervised(name, [*CLI, *args], self.logs / f"{name}.log")
        self.processes[name] = supervised
        self.start(name)
        return supervised

    def start(self, name: str) -> None:
        supervised = self.processes[name]
        running = supervised.process is not None and supervised.process.poll() is None
        assert not running, f"{name} is running: a second one would outlive the run"
        with supervised.log.open("ab") as out:
            supervised.process = subprocess.Popen(
                supervised.args,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its children (uvicorn's) die with it
            )
        supervised.starts += 1
        self.down.discard(name)

    def kill(self, name: str) -> None:
        """SIGKILL the process and its children: no clean-up, no lease freed."""
        supervised = self.processes[name]
        assert supervised.process is not None
        self.down.add(name)
        if supervised.process.poll() is None:
            os.killpg(supervised.process.pid, signal.SIGKILL)
            supervised.killed += 1
        supervised.process.wait()

    def sender(self, client: tuple[str, int], server_port: int) -> str | None:
        """The name of the process whose connection from `client` to `server_port` this is."""
        pids = {
            c.pid
            for c in psutil.net_connections(kind="tcp")
            if c.laddr and c.laddr.port == client[1] and c.raddr and c.raddr.port == server_port
        }
        for name, supervised in self.processes.items():
            if supervised.process is not None and supervised.process.pid in pids:
                return name
        return None

    def revive(self) -> None:
        """Start again every process that exited though nobody killed it."""
        for name, supervised in self.processes.items():
            assert supervised.process is not None
            if name in self.down:
                continue
            code = supervised.process.poll()
            if code is not None:
                supervised.exited.append(code)
                self.start(name)

    def stop(self) -> None:
        for supervised in self.processes.values():
            if supervised.process is not None and supervised.process.poll() is None:
                os.killpg(supervised.process.pid, signal.SIGTERM)
        for supervised in self.processes.values():
            if supervised.process is None:
                continue
            try:
                supervised.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(supervised.process.pid, signal.SIGKILL)
                supervised.process.wait()


def postgres_answers() -> bool:
    try:
        engine = sqlalchemy.create_engine(
            database_url(POSTGRES_URL), connect_args={"connect_timeout": 3}
        )
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except sqlalchemy.exc.OperationalError:
        return False
    return True


@contextmanager
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database when the server answers (dropped afterwards), else SQLite."""
    if not postgres_answers():
        yield f"sqlite:///{tmp_path / 'fault.db'}"
        return
    server = database_url(POSTGRES_URL)
    name = f"signalgate_fault_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# symbol as alerts write it -> (the fake's symbol, unified symbol, base amount of one entry)
SYMBOLS = {
    "BINANCE:BTCUSDT": ("BTCUSDT", "BTC/USDT", "0.001"),
    "ETHUSDT": ("ETHUSDT", "ETH/USDT", "0.02"),
    "SOL/USDT": ("SOLUSDT", "SOL/USDT", "0.5"),
}


@dataclass(frozen=True)
class Alert:
    number: int
    body: dict[str, object]
    duplicate_of: int | None = None  # the alert whose id (and body) this one repeats


def alerts(count: int, secret: str, mids: dict[str, Decimal], seed: int = 13) -> list[Alert]:
    """`count` native alerts on the three symbols: market entries with a take-profit and a
    stop-loss, limit entries below the market, close alerts, and a few repeated alerts; the
    last ones are market entries on each symbol, so that the run ends with positions open."""
    rng = random.Random(seed)
    made: list[Alert] = []
    tickers = list(SYMBOLS)
    for number in range(count):
        roll = rng.random()
        last = count - number <= 2 * len(tickers)
        if last:
            roll = 0.5  # a market entry
        if made and roll < 0.05:
            first = rng.choice([a for a in made if a.duplicate_of is None])
            made.append(Alert(number, first.body, duplicate_of=first.number))
            continue
        ticker = tickers[number % len(tickers)] if last else rng.choice(tickers)
        venue_symbol, _, qty = SYMBOLS[ticker]
        body: dict[str, object] = {
            "symbol": ticker,
            "strategy": "fault-run",
            "id": f"fault-{number}",
            "secret": secret,
        }
        if roll < 0.20:
            body["action"] = "close"
        else:
            body |= {
                "action": "buy",
                "qty": qty,
                "take_profit": {"percent": "1.5"},
                "stop_loss": {"percent": "1"},
            }
            if roll < 0.30:  # rests until the walk brings the price down to it
                below = mids[venue_symbol] * Decimal("0.997")
                body |= {"order_type": "limit", "limit_price": str(below.quantize(Decimal("0.01")))}
        made.append(Alert(number, body))
    return made
