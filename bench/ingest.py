"""Ingest benchmark: signalgate's webhook vs a minimal reference handler, both under uvicorn.

Loads each with wrk on 127.0.0.1 at concurrency 1 and 32 for a bounded time and prints
requests/s, p50 and p99. Also checks that every alert sent reached SQL and the RQ queue.
Run with `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import httpx
import redis
import sqlalchemy

from app.adapters.redis.server import answers, free_port, start_embedded

HERE = Path(__file__).resolve().parent
SECRET = "bench-secret"


def wait_up(port: int, path: str = "/health") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not come up")


def start_server(command: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env={**env, "PORT": str(port)})
    wait_up(port)
    return process


def load(port: int, connections: int, seconds: int, run: str) -> dict[str, float]:
    env = {**os.environ, "BENCH_SECRET": SECRET, "BENCH_RUN": run}
    out = subprocess.run(
        [
            "wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--latency",
            "-s", str(HERE / "wrk_alert.lua"), f"http://127.0.0.1:{port}",
        ],
        env=env, capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def row(name: str, c: int, r: dict[str, float]) -> str:
    return (
        f"{name:<12} c={c:<3} {r['rps']:>8.0f} req/s   p50 {r['p50_ms']:>6.2f} ms   "
        f"p99 {r['p99_ms']:>6.2f} ms   errors {int(r['errors'])}   non-2xx {int(r['non_2xx'])}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: `sudo apt-get install wrk` (Debian/Ubuntu), then run again.")
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="signalgate-bench-"))
    redis_url = "redis://127.0.0.1:6379/10"
    embedded = None
    if not answers(redis_url):
        redis_url, embedded = start_embedded(workdir / "redis")
    redis.Redis.from_url(redis_url).flushdb()
    db_url = f"sqlite:///{workdir / 'bench.db'}"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": db_url,
        "WEBHOOK_SECRET": SECRET,
        "RATE_LIMIT_PER_MINUTE": "100000000",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([sys.executable, "-m", "app.entrypoints.cli", "migrate"], env=env, check=True)

    servers = {
        # the same server for both: uvicorn, one web process, uvloop + httptools
        "reference": [sys.executable, "-m", "uvicorn", "bench.reference_app:app", "--host",
                      "127.0.0.1", "--port", "{port}", "--no-access-log", "--log-level", "warning"],
        # signalgate as one process runs it: `signalgate serve` (web + its forwarder child)
        "signalgate": [sys.executable, "-m", "app.entrypoints.cli", "serve", "--host", "127.0.0.1"],
    }  # fmt: skip
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    sent = 0
    for round_ in range(1, args.rounds + 1):
        for name, command in servers.items():  # alternate, so that noise hits both alike
            port = free_port()
            process = start_server([c.format(port=port) for c in command], port, env)
            try:
                for connections in (1, 32):
                    warm = load(port, connections, 2, run=f"warm-{name}-{connections}-{round_}")
                    result = load(
                        port, connections, args.seconds, run=f"{name}-{connections}-{round_}"
                    )
                    runs.setdefault((name, connections), []).append(result)
                    print(f"round {round_}  " + row(name, connections, result), flush=True)
                    if name == "signalgate":
                        sent += int(warm["requests"] + result["requests"])
                if name == "signalgate":  # before stopping it: its forwarder drains the inbox
                    seconds, rows, jobs = drain_time(db_url, redis_url)
                    # wrk stops counting at its deadline; requests then in flight are still kept
                    verdict = "all" if rows == jobs >= sent else "NOT ALL"
                    print(
                        f"round {round_}  forwarder: {verdict} of the {sent} alerts sent "
                        f"in SQL ({rows}) and on the RQ queue ({jobs}), {seconds:.2f} s later"
                    )
            finally:
                process.terminate()
                process.wait(10)

    print(f"\nmedians of {args.rounds} rounds of {args.seconds} s:")
    for (name, connections), results in runs.items():
        print(row(name, connections, {k: median([r[k] for r in results]) for k in results[0]}))
    ours, ref = runs["signalgate", 32], runs["reference", 32]
    ratio = median([r["rps"] for r in ours]) / median([r["rps"] for r in ref])
    print(f"signalgate / reference throughput at c=32: {ratio:.2f}x (target >= 0.8)")
    p99s = sorted(r["p99_ms"] for r in ours)
    print(
        f"signalgate p99 at c=32: median {median(p99s):.1f} ms, worst {p99s[-1]:.1f} ms "
        f"(target < 25 ms)"
    )
    if embedded is not None:
        embedded.terminate()
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def drain_time(db_url: str, redis_url: str) -> tuple[float, int, int]:
    """Seconds after the load ends until the inbox is empty; rows in SQL; jobs on the queue."""
    client = redis.Redis.from_url(redis_url)
    start = time.monotonic()
    while client.xlen("signalgate:inbox") > 0 and time.monotonic() - start < 120:
        time.sleep(0.05)
    engine = sqlalchemy.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sqlalchemy.text("SELECT count(*) FROM signals")).scalar()
    engine.dispose()
    return time.monotonic() - start, int(rows or 0), int(client.llen("rq:queue:signals"))


if __name__ == "__main__":
    raise SystemExit(main())
