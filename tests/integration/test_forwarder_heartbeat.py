"""`/ready` reads the forwarders' heartbeat in Redis (over the real Redis); every long-running
process opens its one engine with the pool the settings ask for."""

from __future__ import annotations

import re
import time
from pathlib import Path

import redis
from litestar.testing import TestClient

from app.adapters.redis.liveness import FORWARDER_KEY
from app.bootstrap.database import process_engine
from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.entrypoints.web.app import create_app
from tests.integration.test_web_ops import scrape
from tests.integration.test_webhook_http import TOKEN

ROOT = Path(__file__).resolve().parents[2]


def forwarder_check(http: TestClient) -> tuple[int, str]:
    answer = http.get("/ready")
    return answer.status_code, answer.json()["checks"]["forwarder"]


def test_ready_says_whether_a_forwarder_beat_in_the_last_five_seconds(
    redis_url: str, sqlite_url: str
) -> None:
    store = redis.Redis.from_url(redis_url)
    settings = Settings(redis_url=redis_url, database_url=sqlite_url, api_token=TOKEN)
    with TestClient(create_app(build_services(settings), run_forwarder=False)) as http:
        assert forwarder_check(http) == (
            503,
            "no forwarder has run yet: start `signalgate forward` (Procfile: forwarder).",
        )
        store.set(FORWARDER_KEY, repr(time.time() - 3))
        assert forwarder_check(http) == (200, "ok")
        store.set(FORWARDER_KEY, repr(time.time() - 60))
        status, said = forwarder_check(http)
        assert status == 503
        assert re.fullmatch(
            r"no forwarder heartbeat for 6\d s \(over 5 s\): start `signalgate forward` or "
            r"read its logs\.",
            said,
        ), said
        assert http.get("/ready").json()["status"] == "not ready"
    store.close()


def test_a_forwarder_running_as_a_thread_keeps_the_heartbeat_fresh(
    redis_url: str, sqlite_url: str
) -> None:
    store = redis.Redis.from_url(redis_url)
    settings = Settings(redis_url=redis_url, database_url=sqlite_url, api_token=TOKEN)
    with TestClient(create_app(build_services(settings))) as http:
        assert forwarder_check(http) == (200, "ok")
        beat = float(store.get(FORWARDER_KEY) or 0)
        assert time.time() - beat < 5
    store.close()


def test_a_process_engine_has_the_pool_of_the_settings(postgres_url: str) -> None:
    settings = Settings(database_url=postgres_url, db_pool_size=2, db_max_overflow=1)
    engine = process_engine(settings)
    try:
        assert (engine.pool.size(), engine.pool._max_overflow) == (2, 1)  # type: ignore[attr-defined]
        connections = [engine.connect() for _ in range(3)]
        assert engine.pool.checkedout() == 3  # type: ignore[attr-defined]
        for connection in connections:
            connection.close()
        assert engine.pool.checkedin() == 2  # type: ignore[attr-defined]  # the overflow closed
    finally:
        engine.dispose()


def test_every_long_running_process_opens_its_engine_through_process_engine() -> None:
    # the README's count of connections rests on this: one engine per process, with the pool of
    # DB_POOL_SIZE and DB_MAX_OVERFLOW; only one-shot commands open engines of their own
    callers = {
        path.stem
        for path in (ROOT / "app" / "bootstrap").glob("*.py")
        if "make_engine(" in path.read_text()
    }
    assert callers == {"database", "admin", "orders", "backtest"}
    users = {
        path.stem
        for path in (ROOT / "app" / "bootstrap").glob("*.py")
        if "process_engine(settings)" in path.read_text()
    }
    assert users == {"web", "forwarder", "worker", "monitor"}  # strategy uses web's services


def test_metrics_show_when_a_forwarder_last_beat(redis_url: str, sqlite_url: str) -> None:
    store = redis.Redis.from_url(redis_url)
    settings = Settings(redis_url=redis_url, database_url=sqlite_url, api_token=TOKEN)
    with TestClient(create_app(build_services(settings), run_forwarder=False)) as http:
        assert "signalgate_forwarder_last_beat_timestamp_seconds" not in scrape(http)
        store.set(FORWARDER_KEY, "1764979200.25")
        shown = scrape(http)["signalgate_forwarder_last_beat_timestamp_seconds"]
        assert shown == {(): 1764979200.25}
    store.close()
