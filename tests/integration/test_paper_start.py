"""A deployment whose venues are all paper (the default) loads no venue library: ccxt (and
ccxt.pro's websocket modules) took a third of a worker's start and more of the monitor's, at
every restart and deploy, for nothing; in the web process, marking positions waited for it (1.7 s
alone on a slow machine, five and more under load: a /positions right after a monitor's
failover timed out)."""

from __future__ import annotations

import json
import subprocess
import sys

# In a fresh interpreter: the worker's and the monitor's start checks, a burst worker on an
# empty queue and the job functions as RQ resolves them, the monitor for two seconds, and the
# web process's venues for marking positions.
PAPER_PROCESSES = """
import asyncio, json, sys
from rq.utils import import_attribute
from app.bootstrap.monitor import run_monitor
from app.bootstrap.venue_check import check_at_start
from app.bootstrap.worker import run_worker
from app.config.settings import Settings

settings = Settings(redis_url=sys.argv[1], database_url=sys.argv[2])
for process in ("worker", "monitor"):
    check_at_start(settings, process)
run_worker(settings, burst=True)
import_attribute("workers.jobs.execute_signals")
import_attribute("workers.jobs.execute_signal")

async def monitor() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(2.0, stop.set)
    await run_monitor(settings, stop)

asyncio.run(monitor())

async def marks() -> None:
    from app.bootstrap.web import build_services
    services = build_services(settings)
    await services.startup(run_forwarder=False)
    try:
        assert sorted(await services.marking_venues()) == ["paper"]
    finally:
        await services.shutdown()

asyncio.run(marks())
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {"ccxt", "aiohttp"})))
"""


def test_paper_processes_and_marks_load_no_venue_library(redis_url: str, sqlite_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PAPER_PROCESSES, redis_url, sqlite_url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
