"""The forwarders' heartbeat over the real Redis: written by a running forwarder, shown by `/ready`
(without deciding its status) and by `/metrics`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from litestar.testing import TestClient

from app.adapters.redis.forwarder_beat import FORWARDER_KEY
from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.entrypoints.web.app import create_app
from tests.integration.helpers import eventually
from tests.integration.test_web_ops import scrape
from tests.integration.test_webhook_http import SECRET, TOKEN, make_client


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def forwarder_state(http: TestClient[Any]) -> tuple[int, str, str]:
    answer = http.get("/ready")
    return answer.status_code, answer.json()["status"], answer.json()["processes"]["forwarder"]


def test_a_running_forwarder_beats_every_second(redis_url: str, sqlite_url: str, store) -> None:
    with make_client(redis_url, sqlite_url) as http:  # its forwarder runs as a thread
        first = float(eventually(lambda: store.get(FORWARDER_KEY)))
        assert forwarder_state(http) == (200, "ready", "ok")
        eventually(lambda: float(store.get(FORWARDER_KEY) or 0) > first, timeout=10)


def test_ready_names_a_missing_or_silent_forwarder_and_stays_ready(
    redis_url: str, sqlite_url: str, store
) -> None:
    settings = Settings(
        redis_url=redis_url, database_url=sqlite_url, webhook_secret=SECRET, api_token=TOKEN
    )
    with TestClient(create_app(build_services(settings), run_forwarder=False)) as http:
        code, status, said = forwarder_state(http)
        assert (code, status) == (200, "ready")  # alerts are still taken: they wait in Redis
        assert said.startswith("no forwarder has beaten yet: accepted alerts wait in the Redis")
        assert "`signalgate forward`" in said
        store.set(FORWARDER_KEY, repr(time.time() - 4))  # four beats missed: not yet
        assert forwarder_state(http) == (200, "ready", "ok")
        store.set(FORWARDER_KEY, repr(time.time() - 12))
        code, status, said = forwarder_state(http)
        assert (code, status) == (200, "ready")
        assert said.startswith("no forwarder heartbeat for 12 s (over 5 s): accepted alerts")
        assert http.post("/webhook", content='{"symbol": "BTCUSDT", "action": "buy", '
                         f'"qty": "0.1", "secret": "{SECRET}"}}').status_code == 202  # fmt: skip


def test_metrics_show_when_a_forwarder_last_beat(redis_url: str, sqlite_url: str, store) -> None:
    settings = Settings(
        redis_url=redis_url, database_url=sqlite_url, webhook_secret=SECRET, api_token=TOKEN
    )
    with TestClient(create_app(build_services(settings), run_forwarder=False)) as http:
        assert "signalgate_forwarder_last_beat_timestamp_seconds" not in scrape(http)
        store.set(FORWARDER_KEY, "1764979200.5")
        shown = scrape(http)["signalgate_forwarder_last_beat_timestamp_seconds"]
        assert shown == {(): 1764979200.5}
