"""A worker that stops (SIGTERM, the end of a burst) closes its venues' sessions: nothing is
logged at ERROR on every deploy."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from tests.e2e.conftest import Service
from tests.e2e.test_serve import send
from tests.fake_binance import serve_fake_binance
from tests.integration.helpers import eventually, forwarded

BOUND = 60.0  # a hang, not a speed


def test_a_worker_that_traded_on_a_ccxt_venue_stops_without_an_error(
    start_service: Callable[..., Service],
) -> None:
    with serve_fake_binance() as fake:
        service = start_service(
            TRADING_MODE="testnet", VENUES="binance", BINANCE_MODE="testnet",
            BINANCE_API_KEY=fake.venue.api_key, BINANCE_API_SECRET=fake.venue.secret,
            BINANCE_API_URL=fake.url, LOG_LEVEL="INFO",
        )  # fmt: skip
        sent = send(service, "--symbol", "BTCUSDT", "--qty", "0.001", "--sl", "2%")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        signal_id = sent.stdout.split('"signal_id":"')[1].split('"')[0]
        eventually(lambda: forwarded(service.env["REDIS_URL"], signal_id))
        worker = subprocess.run(
            [sys.executable, "-m", "app.entrypoints.cli", "worker", "--burst"],
            env=service.env, capture_output=True, text=True, timeout=BOUND, check=False,
        )  # fmt: skip
    assert worker.returncode == 0, worker.stderr
    assert service.get(f"/signals/{signal_id}").json()["status"] == "executed"
    assert fake.venue.count("POST", "/api/v3/order") == 2  # the entry and its stop-loss
    errors = [line for line in worker.stderr.splitlines() if "level=error" in line]
    assert not errors, errors
    assert "release all resources" not in worker.stderr
