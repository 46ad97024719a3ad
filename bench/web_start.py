"""Web start benchmark: how long after `signalgate serve` starts does it take connections, and
answer `/health`?

A restarted web process refuses connections until its port listens, and answers the ones it took
once its app has started. Starts the web process (one uvicorn process, SQLite, the Redis at
REDIS_URL, else 127.0.0.1:6379, else an embedded one) several times and prints, from the spawn:
when a TCP connection was first accepted, when `/health` first answered 200, and the CPU time the
process had used by then (it moves less than the wall time on a shared machine; it includes what
the thread that builds the SQL store after the start had done by then). The app's bytecode is
compiled first, as bin/post_compile does on Heroku. Also prints what importing the web app
costs, and whether that imported ccxt or SQLAlchemy (the web process has no use for the first,
and builds its SQL store after it answers).
Run with `make bench` or `python -m bench.web_start [--rounds 7]`.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import httpx
import psutil  # type: ignore[import-untyped]

from app.adapters.redis.server import answers, free_port, start_embedded

CLI = [sys.executable, "-m", "app.entrypoints.cli"]


def serve_command() -> list[str]:
    """`signalgate serve` on 127.0.0.1, without a forwarder child when serve still starts one
    (its start would share the CPU with the web process's)."""
    usage = subprocess.run([*CLI, "serve", "--help"], capture_output=True, text=True, check=True)
    extra = ["--no-forwarder"] if "--no-forwarder" in usage.stdout else []
    return [*CLI, "serve", "--host", "127.0.0.1", *extra]


def first_health(command: list[str], env: dict[str, str], port: int) -> tuple[float, float, float]:
    """Seconds from the spawn to the first accepted connection and to the first 200 from
    /health, and the CPU seconds the process had used by then."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**env, "PORT": str(port)})
    watched = psutil.Process(process.pid)
    deadline = started + 60
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}")
            if time.perf_counter() > deadline:
                raise RuntimeError("serve did not listen within 60 s")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.005)
        listening = time.perf_counter() - started
        with httpx.Client(timeout=60) as client:
            while time.perf_counter() < deadline:
                try:
                    if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        answered = time.perf_counter() - started
                        cpu = watched.cpu_times()
                        return listening, answered, cpu.user + cpu.system
                except httpx.TransportError:
                    time.sleep(0.005)
        raise RuntimeError("/health did not answer within 60 s")
    finally:
        process.terminate()
        process.wait(15)


def import_cost() -> tuple[float, bool, bool]:
    """Seconds to import the web app in a fresh interpreter, and whether ccxt and SQLAlchemy
    came with it."""
    code = (
        "import sys, time; t = time.perf_counter(); import app.entrypoints.web.app; "
        "print(time.perf_counter() - t, 'ccxt' in sys.modules, 'sqlalchemy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), out[1] == "True", out[2] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    embedded = None
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    with tempfile.TemporaryDirectory() as tmp:
        if not answers(redis_url):
            redis_url, embedded = start_embedded(Path(tmp) / "redis")
        env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'start.db'}",
            "WEBHOOK_SECRET": "bench-secret",
            "WEB_CONCURRENCY": "1",
            "LOG_LEVEL": "WARNING",
        }
        subprocess.run([*CLI, "migrate"], env=env, check=True, capture_output=True)
        root = Path(__file__).resolve().parents[1]
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(root / "app"), str(root / "workers")],
            check=True,
        )
        command = serve_command()
        starts = [first_health(command, env, free_port()) for _ in range(args.rounds)]
        imports = [import_cost() for _ in range(3)]
        if embedded is not None:
            embedded.terminate()
            embedded.wait(10)
    listening, answered, cpus = zip(*starts, strict=True)
    print(f"web start, {args.rounds} starts of `{' '.join(command[2:])}` (one process, SQLite)")
    print(f"  listening after    median {median(listening):.3f} s, best {min(listening):.3f} s")
    print(f"  /health 200 after  median {median(answered):.3f} s, best {min(answered):.3f} s"
          f"  (each: {' '.join(f'{a:.2f}' for a in answered)})")  # fmt: skip
    print(f"  CPU used by then   median {median(cpus):.3f} s, best {min(cpus):.3f} s")
    best_import = min(cost for cost, _, _ in imports)
    print(f"import app.entrypoints.web.app: best of 3 {best_import:.3f} s; "
          f"imports ccxt: {'yes' if imports[0][1] else 'no'}, "
          f"SQLAlchemy: {'yes' if imports[0][2] else 'no'}")  # fmt: skip
    print(f"load average while measured: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
