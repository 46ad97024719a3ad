"""`signalgate` commands run as processes of their own, forked from one that imported the CLI once.

Each command is a new process, as a user's is: its own environment, standard input, output and
error, and exit status, and Python's own exit at its end (atexit, logging's flush). What it does
not pay is the start: the forked-from process has imported the CLI and what its commands load
(SQLAlchemy and the SQL adapters), about a second a command on an idle test machine and three times
that under `make test`'s load, for suites that run twenty and more commands a test.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

# The forked-from process: imports, then for each command line read (JSON), forks a child that
# becomes the command and ends as the interpreter does; it answers with the child's status.
_SERVER = r"""
import importlib, json, os, sys
from app.entrypoints.cli.main import main

for name in sys.argv[1:]:
    importlib.import_module(name)
print("ready", flush=True)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ.clear()
        os.environ.update(job["env"])
        read, write = os.pipe()
        os.write(write, job["stdin"].encode())  # small: within a pipe's buffer
        os.close(write)
        os.dup2(read, 0)
        os.close(read)
        for fd, path in ((1, job["out"]), (2, job["err"])):
            opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(opened, fd)
            os.close(opened)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        sys.argv = ["signalgate", *job["argv"]]
        raise SystemExit(main(job["argv"]))  # the interpreter's own exit, as `signalgate` ends
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""

# what the commands of the CLI suites load, imported once; not ccxt, which a command that needs
# it imports itself: a process with ccxt loaded takes half a second more to end
PRELOADED = (
    "app.bootstrap.accounts",
    "app.bootstrap.connections",
    "app.bootstrap.local",
    "psycopg",
)


class CliProcesses:
    """Runs `signalgate ARGS...` commands; `close` when done."""

    def __init__(self, preloaded: tuple[str, ...] = PRELOADED) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="signalgate-cli-")
        self._server = subprocess.Popen(
            [sys.executable, "-c", _SERVER, *preloaded],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self._server.stdout is not None
        if self._server.stdout.readline().strip() != "ready":
            raise RuntimeError("the CLI's forked-from process did not start")

    def run(
        self, args: list[str], env: Mapping[str, str], stdin: str = "", timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """The command's exit status, output and error, as `subprocess.run` gives them."""
        assert self._server.stdin is not None
        assert self._server.stdout is not None
        out, err = Path(self._dir.name, "out"), Path(self._dir.name, "err")
        job = {"argv": args, "env": dict(env), "stdin": stdin, "out": str(out), "err": str(err)}
        self._server.stdin.write(json.dumps(job) + "\n")
        self._server.stdin.flush()
        if not select.select([self._server.stdout], [], [], timeout)[0]:
            self._server.kill()
            raise subprocess.TimeoutExpired(["signalgate", *args], timeout)
        answer = self._server.stdout.readline()
        if not answer:
            raise RuntimeError("the CLI's forked-from process died")
        code = int(answer)
        return subprocess.CompletedProcess(
            ["signalgate", *args], code, out.read_text(), err.read_text()
        )

    def close(self) -> None:
        self._server.communicate(timeout=30)  # its input closed: it ends; its output closed
        self._dir.cleanup()


@pytest.fixture(scope="module")
def cli_processes() -> Iterator[CliProcesses]:
    processes = CliProcesses()
    yield processes
    processes.close()
