"""The processes of the execution benchmark: serve, worker and monitor on 127.0.0.1.

Each process runs in its own process group (serve starts its forwarder as a child), so that
`Stack.stop` ends everything it started, even when a run fails half-way.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psutil  # type: ignore[import-untyped]
import redis
import sqlalchemy

from app.adapters.redis.server import free_port
from app.bootstrap.local import migrate
from app.config.settings import Settings, database_url

SECRET = "bench-secret"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SYMBOLS = ("BTC/USDT", "ETH/USDT")
FINAL = ("executed", "denied", "failed", "filtered", "stale", "duplicate", "rejected", "expired")


def bench_env(db_url: str, port: int, log_level: str) -> dict[str, str]:
    """The service's settings for a benchmark of many small buys that must not be denied."""
    return {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "DATABASE_URL": db_url,
        "PORT": str(port),
        "WEBHOOK_SECRET": SECRET,
        "API_TOKEN": "bench-token",
        "LOG_LEVEL": log_level,
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "MAX_ORDERS_PER_MINUTE": "100000000",
        "MAX_OPEN_POSITIONS": "1000",
        "MAX_TOTAL_EXPOSURE": "1000000000",
        "ENTRY_POLICY": "add",
        # a stop-loss filled by the random walk would deny the symbol's next entries for 900 s
        "STOP_LOSS_COOLDOWN_SECONDS": "0",
        # a backlog (1,000 queued, a slow database) is executed, not expired after 30 s
        "EXECUTION_MAX_DELAY_SECONDS": "3600",
        "PAPER_BALANCES": "USDT=1000000000",
        "SYMBOLS": ",".join(SYMBOLS),
    }


@dataclass
class Database:
    """A scratch database: a SQLite file in the work directory or a PostgreSQL database."""

    url: str
    admin_url: str | None = None
    name: str | None = None

    @classmethod
    def create(cls, kind: str, workdir: Path) -> Database:
        if kind == "sqlite":
            return cls(f"sqlite:///{workdir / 'bench.db'}")
        admin_url = database_url(POSTGRES_URL)
        name = f"signalgate_bench_{uuid.uuid4().hex[:10]}"
        admin = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        return cls(admin_url.rsplit("/", 1)[0] + f"/{name}", admin_url, name)

    def migrate(self) -> None:
        migrate(Settings(database_url=self.url))

    def drop(self) -> None:
        if self.admin_url is None:
            return
        admin = sqlalchemy.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class PgProxy:
    """`bench.pg_proxy` in its own process in front of the scratch PostgreSQL: each process of
    the stack reaches the database through a port of its own, so its round trips are its own."""

    delay_ms: float
    workdir: Path
    ports: dict[str, int] = field(default_factory=dict)
    added_ms: float = 0.0  # measured: what a round trip through the proxy costs more
    _process: subprocess.Popen[bytes] | None = None

    @property
    def stats(self) -> Path:
        return self.workdir / "pg_proxy.json"

    def start(self, db_url: str) -> None:
        target = sqlalchemy.make_url(db_url)
        self.ports = {name: free_port() for name in ("serve", "worker", "monitor", "probe")}
        command = [sys.executable, "-m", "bench.pg_proxy", "--target",
                   f"{target.host}:{target.port or 5432}", "--ports",
                   ",".join(map(str, self.ports.values())), "--delay-ms", str(self.delay_ms),
                   "--stats", str(self.stats)]  # fmt: skip
        log = (self.workdir / "pg_proxy.log").open("ab")
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self.stats.exists():
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError(f"bench.pg_proxy did not start; see {log.name}")
            time.sleep(0.05)
        self.added_ms = self._measure(db_url)

    def url(self, db_url: str, name: str) -> str:
        url = sqlalchemy.make_url(db_url).set(host="127.0.0.1", port=self.ports[name])
        return url.render_as_string(hide_password=False)

    def _measure(self, db_url: str, tries: int = 300) -> float:
        """The round trip of `SELECT 1` through the proxy less the direct one, in ms (best of
        3), through a port of its own."""
        import psycopg  # noqa: PLC0415 - PostgreSQL runs only

        def per_query(url: str) -> float:
            plain = sqlalchemy.make_url(url).set(drivername="postgresql")
            with psycopg.connect(plain.render_as_string(hide_password=False)) as conn:
                for _ in range(20):
                    conn.execute("SELECT 1")
                started = time.perf_counter()
                for _ in range(tries):
                    conn.execute("SELECT 1").fetchall()
                return (time.perf_counter() - started) / tries * 1000

        return min(per_query(self.url(db_url, "probe")) - per_query(db_url) for _ in range(3))

    def counts(self) -> dict[str, dict[str, Any]]:
        """What each process sent so far: round trips, statements by kind, texts."""
        raw = json.loads(self.stats.read_text())
        return {name: raw[str(port)] for name, port in self.ports.items()}

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None


@dataclass
class Stack:
    """serve (web + forwarder), monitor and worker processes of one benchmark run."""

    workdir: Path
    db: Database
    monitor_profile: Path | None = None  # run the monitor under cProfile, dumped here
    cpu_clock: bool = False  # profiles count CPU time (bench.cpu_profiled), not wall time
    proxy: PgProxy | None = None  # the processes reach PostgreSQL through it
    log_level: str = "INFO"
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def env(self, name: str) -> dict[str, str]:
        url = self.db.url if self.proxy is None else self.proxy.url(self.db.url, name)
        return bench_env(url, self.port, self.log_level)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str, *args: str, python: tuple[str, ...] = ()) -> None:
        """Start `signalgate <name> <args>` (`python` goes before `-m app.entrypoints.cli`, like
        cProfile)."""
        log = (self.workdir / f"{name}.log").open("ab")
        self._logs.append(log)
        command = [sys.executable, *python, "-m", "app.entrypoints.cli", name, *args]
        self.processes[name] = subprocess.Popen(
            command,
            env=self.env(name),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_service(self) -> None:
        """serve and monitor, both up: the web answers and the paper venues are hosted."""
        profile = self.monitor_profile
        self.start("monitor", python=self.profiled(profile))
        self.start("serve", "--host", "127.0.0.1")
        wait_healthy(self.base_url, self.check_alive, 30)

    def profiled(self, out: Path | None) -> tuple[str, ...]:
        """The interpreter arguments that run a process under cProfile, dumped to `out`."""
        if out is None:
            return ()
        if self.cpu_clock:
            return ("-m", "bench.cpu_profiled", str(out))
        return ("-m", "cProfile", "-o", str(out))

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None and not (name == "worker" and process.returncode == 0):
                tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"signalgate {name} exited ({process.returncode}):\n{tail}")

    def cpu_seconds(self, name: str) -> float:
        """CPU time (user + system) of a process and its children so far."""
        process = self.processes.get(name)
        if process is None:
            return 0.0
        try:
            parent = psutil.Process(process.pid)
            total = 0.0
            for proc in [parent, *parent.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.NoSuchProcess:
            return 0.0
        return total

    def stop(self, name: str, timeout: float = 60) -> None:
        process = self.processes.pop(name, None)
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)

    def wait_exit(self, name: str, timeout: float) -> int:
        process = self.processes[name]
        try:
            return process.wait(timeout)
        finally:
            self.stop(name)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        for log in self._logs:
            log.close()


SERVERS = {"postgres": "PostgreSQL", "redis-server": "Redis"}  # process name -> label


@dataclass(frozen=True)
class MachineCpu:
    """CPU seconds so far: the database and Redis servers' processes on this machine, by label
    and process (PostgreSQL's backends apart from its own background processes: WAL writer,
    checkpointer...), the whole machine's busy time (all cores: user, system and interrupts),
    and the time the hypervisor gave this VM's cores to others (steal). A process that ended
    in between is left out of `since` (a connection closed meanwhile: a little less counted)."""

    servers: dict[tuple[str, int], float]
    busy: float
    steal: float

    @classmethod
    def now(cls) -> MachineCpu:
        servers: dict[tuple[str, int], float] = {}
        for proc in psutil.process_iter(["name", "cmdline", "cpu_times"]):
            label = SERVERS.get(proc.info["name"] or "")
            if label is None or proc.info["cpu_times"] is None:
                continue
            if label == "PostgreSQL":  # a backend's title names its client's address
                title = " ".join(proc.info["cmdline"] or ())
                label += " backends" if "(" in title else " background"
            times = proc.info["cpu_times"]
            servers[(label, proc.pid)] = times.user + times.system
        t = psutil.cpu_times()
        busy = t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
        return cls(servers, busy, getattr(t, "steal", 0.0))

    def since(self, before: MachineCpu) -> MachineCpu:
        servers = {k: v - before.servers.get(k, 0.0) for k, v in self.servers.items()}
        return MachineCpu(servers, self.busy - before.busy, self.steal - before.steal)

    def by_label(self) -> dict[str, float]:
        """The seconds of each label, its processes summed."""
        labels: dict[str, float] = {}
        for (label, _), seconds in sorted(self.servers.items()):
            labels[label] = labels.get(label, 0.0) + seconds
        return labels


def wait_healthy(base_url: str, check_alive: Callable[[], None], seconds: float) -> None:
    """Return once `base_url`/health answers 200; `check_alive` raises if a process died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check_alive()
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the web process did not answer at {base_url} within {seconds:g} s")


def flush_redis() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    return client
