"""A worker SIGKILLed mid-create: its job comes back within seconds on another worker, which
finishes the signal with the one entry the dead worker sent (RQ alone would leave the job
started for the job's timeout + 60 s, then up to 600 s more)."""

from __future__ import annotations

import asyncio
import json
import os
import signal

from litestar.testing import AsyncTestClient

from app.bootstrap.web import build_services
from app.domain.orders import Side
from app.entrypoints.web.app import create_app
from tests.integration.test_execution_paper import (  # noqa: F401 - the fixture
    ALERT,
    AUTH,
    Deployment,
    _closed,
    deployment,
    pytestmark,
)

SETTLE_SECONDS = 30


async def test_a_dead_workers_job_is_rerun_by_another_within_seconds(
    deployment: Deployment,  # noqa: F811
) -> None:
    exchange = deployment.exchange
    exchange.gate, exchange.reached = asyncio.Event(), asyncio.Event()
    app = create_app(build_services(deployment.settings))
    async with AsyncTestClient(app) as http:
        signal_id = (await http.post("/webhook", content=json.dumps(ALERT))).json()["signal_id"]
        await deployment.queued(1)
        worker = await deployment.worker()
        await asyncio.wait_for(exchange.reached.wait(), 60)  # the entry request is on the venue
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its scheduler, as a dyno dies
        await worker.wait()
        exchange.gate.set()  # the venue executes the request the dead worker sent
        # The dead worker's account-and-symbol lock outlives any venue's lost request (30 s
        # from when it was taken, tested with the locks); shortened here to see the job alone.
        for key in deployment.redis.scan_iter("signalgate:lock:*"):
            deployment.redis.pexpire(key, 1)

        await deployment.worker()  # nothing re-runs the job by hand: the new worker finds it
        status = "queued"
        for _ in range(SETTLE_SECONDS * 10):
            shown = (await http.get(f"/signals/{signal_id}", headers=AUTH)).json()
            if (status := shown["status"]) != "queued":
                break
            await asyncio.sleep(0.1)
        assert status == "executed", f"still {status} {SETTLE_SECONDS} s after the kill"

        entries = [
            o for o in exchange.venue.open_orders() + _closed(exchange) if o.side is Side.BUY
        ]
        assert len(entries) == 1  # exactly one entry on the venue
        assert "resumed" in [step["status"] for step in shown["history"]]
