"""The soak's processes: those the Procfile lists, on a private Redis and a fresh PostgreSQL.

`release` runs first, once; the others start as the platform starts them, each in a process
group of its own (so that `SoakStack.stop` ends their children too), with its output in
`<workdir>/<name>.log`. `strategy` is left out (its formation is 0: its signals would mix with
the alerts'). A forwarder runs however the branch starts it: as a Procfile process, as a child of
`serve`, or, when neither, explicitly (`signalgate forward`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil  # type: ignore[import-untyped]

from app.adapters.redis.server import free_port, start_embedded
from bench.execution_stack import Database, wait_healthy
from bench.soak_alerts import balances, symbols

PROCFILE = Path(__file__).resolve().parent.parent / "Procfile"
CLI = [sys.executable, "-m", "app.entrypoints.cli"]
LEFT_OUT = {"strategy"}
SECRET = "soak-webhook-secret"
TOKEN = "soak-api-token"
_PROBLEM = re.compile(r"\blevel=(error|critical)\b|^Traceback|^\w+Error\b", re.IGNORECASE)
_TIME = re.compile(r"^time=\S+ ")


def procfile(path: Path = PROCFILE) -> dict[str, list[str]]:
    """The Procfile's processes, by type, as argument lists (`signalgate` run from this
    checkout with this interpreter)."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if not sep or line.lstrip().startswith("#"):
            continue
        args = shlex.split(command)
        found[name.strip()] = [*CLI, *args[1:]] if args and args[0] == "signalgate" else args
    return found


def soak_env(redis_url: str, db_url: str, port: int, coins: int) -> dict[str, str]:
    """Production's settings (paper venue, INFO logs), with risk limits that let a stream of
    small trades through: the soak is about the processes, not the risk gate."""
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": db_url,
        "PORT": str(port),
        "TRADING_MODE": "paper",
        "VENUES": "paper",
        "PAPER_BALANCES": balances(coins),
        "SYMBOLS": ",".join(symbols(coins)),
        "WEBHOOK_SECRET": SECRET,
        "API_TOKEN": TOKEN,
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "logfmt",
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "MAX_ORDERS_PER_MINUTE": "100000000",
        "MAX_ORDER_NOTIONAL": "100000",
        "MAX_OPEN_POSITIONS": "1000",
        "MAX_TOTAL_EXPOSURE": "1000000000",
        "MAX_DAILY_LOSS": "1000000000",
        "ENTRY_POLICY": "add",
        "STOP_LOSS_COOLDOWN_SECONDS": "0",
    }


def _label(proc: psutil.Process) -> str:
    """What a process is: its signalgate command, else its program's name."""
    try:
        cmdline = proc.cmdline()
    except psutil.Error:
        return "?"
    if "app.entrypoints.cli" in cmdline:
        rest = cmdline[cmdline.index("app.entrypoints.cli") + 1 :]
        return rest[0] if rest else "signalgate"
    if any("multiprocessing" in part for part in cmdline):
        return "uvicorn worker"
    return proc.name()


@dataclass(frozen=True)
class Proc:
    label: str  # its signalgate command, or what it is
    pid: int
    rss: int  # bytes
    cpu: float  # CPU seconds (user + system) so far


@dataclass
class SoakStack:
    workdir: Path
    workers: int = 1
    coins: int = 3
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    redis_url: str = ""
    _redis: subprocess.Popen[bytes] | None = None
    db: Database | None = None
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        assert self.db is not None
        return soak_env(self.redis_url, self.db.url, self.port, self.coins)

    def start(self) -> None:
        """Redis, the database, `release`, then every process; returns once the web answers."""
        self.redis_url, self._redis = start_embedded(self.workdir / "redis")
        self.db = Database.create("postgres", self.workdir)
        commands = procfile()
        release = commands.pop("release", None)
        if release is not None:
            subprocess.run(release, env=self.env, check=True, capture_output=True)
        for name, listed in commands.items():
            if name in LEFT_OUT:
                continue
            serve = listed[len(CLI) :][:1] == ["serve"]
            command = [*listed, "--host", "127.0.0.1"] if serve else listed
            copies = self.workers if name == "worker" else 1
            for copy in range(1, copies + 1):
                self._spawn(name if copies == 1 else f"{name}-{copy}", command)
        wait_healthy(self.base_url, self.check_alive, 60)
        if "forward" not in {proc.label for tree in self.trees().values() for proc in tree}:
            self._spawn("forwarder", [*CLI, "forward"])

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self._logs.append(log)
        self.processes[name] = subprocess.Popen(
            command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def check_alive(self) -> None:
        """Raise if Redis or a process has exited: the run would measure nothing more."""
        if self._redis is not None and self._redis.poll() is not None:
            raise RuntimeError(f"the run's redis-server exited ({self._redis.returncode})")
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.workdir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited ({process.returncode}):\n{tail}")

    def trees(self) -> dict[str, list[Proc]]:
        """Each process and its children, the process first."""
        found = {}
        for name, process in self.processes.items():
            rows = []
            with contextlib.suppress(psutil.NoSuchProcess):
                parent = psutil.Process(process.pid)
                for proc in [parent, *parent.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        label = _label(proc)
                        if proc.pid != parent.pid and proc.cmdline() == parent.cmdline():
                            label += " (fork)"  # the worker's: RQ's scheduler
                        times = proc.cpu_times()
                        cpu = times.user + times.system
                        rows.append(Proc(label, proc.pid, proc.memory_info().rss, cpu))
            found[name] = rows
        return found

    def problems(self) -> dict[str, Counter[str]]:
        """The ERROR and CRITICAL lines (and uncaught tracebacks) each process logged, counted
        by their text without the time."""
        found: dict[str, Counter[str]] = {}
        for name in self.processes:
            lines: Counter[str] = Counter()
            with (self.workdir / f"{name}.log").open(errors="replace") as log:
                for line in log:
                    if _PROBLEM.search(line):
                        lines[_TIME.sub("", line.rstrip())[:400]] += 1
            found[name] = lines
        return found

    def stop(self) -> None:
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        for log in self._logs:
            log.close()
        if self.db is not None:
            self.db.drop()
        if self._redis is not None:
            self._redis.terminate()
            self._redis.wait(10)
