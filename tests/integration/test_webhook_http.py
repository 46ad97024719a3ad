"""The whole HTTP path into a real RQ queue on a real Redis, with SQLite migrated by alembic."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from litestar.testing import TestClient
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.domain.signals import IntakePolicy
from app.entrypoints.web.app import create_app
from tests.integration.helpers import eventually, forwarded

SECRET = "s3cret-Hook-Value"
TOKEN = "api-token-123"


def make_client(redis_url: str, sqlite_url: str, **overrides: Any) -> TestClient[Any]:
    settings = Settings(
        redis_url=redis_url,
        database_url=sqlite_url,
        webhook_secret=SECRET,
        api_token=TOKEN,
        **overrides,
    )
    return TestClient(create_app(build_services(settings)))


@pytest.fixture
def client(redis_url: str, sqlite_url: str) -> Iterator[TestClient[Any]]:
    with make_client(redis_url, sqlite_url) as test_client:
        yield test_client


def alert(**fields: Any) -> str:
    body = {"symbol": "BINANCE:BTCUSDT", "action": "buy", "qty": "0.5", "secret": SECRET}
    body.update(fields)
    return json.dumps({k: v for k, v in body.items() if v is not None})


def lookup(client: TestClient[Any], signal_id: str) -> dict[str, Any] | None:
    response = client.get(f"/signals/{signal_id}", headers={"Authorization": f"Bearer {TOKEN}"})
    return response.json() if response.status_code == 200 else None


def test_alert_is_queued_as_a_real_rq_job_and_recorded(client, redis_url):
    response = client.post("/webhook", content=alert(), headers={"Content-Type": "text/plain"})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    signal_id = body["signal_id"]

    stored = eventually(lambda: lookup(client, signal_id))
    assert stored["status"] == "queued"
    assert stored["symbol"] == "BTC/USDT"
    assert stored["signal"]["venue"] == "binance"
    assert [h["status"] for h in stored["history"]] == ["queued"]
    assert "secret" not in json.dumps(stored["payload"])

    connection = redis.Redis.from_url(redis_url)
    eventually(lambda: forwarded(redis_url, signal_id))
    job = Job.fetch(f"signal-{signal_id}", connection, JSONSerializer)
    assert job.func_name == "workers.jobs.execute_signal"
    assert job.args == [signal_id, "default", "BTC/USDT"]  # its lock key travels with it
    queue = Queue("signals", connection=connection, serializer=JSONSerializer)
    assert queue.job_ids == [f"signal-{signal_id}"]


def test_duplicate_alert_is_answered_duplicate_and_queued_once(client, redis_url):
    first = client.post("/webhook", content=alert(id="tv-42")).json()
    second = client.post("/webhook", content=alert(id="tv-42", qty="9"))
    assert second.status_code == 200
    assert second.json() == {
        "status": "duplicate",
        "signal_id": first["signal_id"],
        "reason": "the same alert was received before",
    }
    queue = Queue("signals", connection=redis.Redis.from_url(redis_url))
    eventually(lambda: queue.count == 1)
    listed = eventually(
        lambda: client.get(
            "/signals?status=duplicate", headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()["signals"]
    )
    assert listed[0]["duplicate_of"] == first["signal_id"]


@pytest.mark.parametrize(
    ("content", "query", "headers", "code", "reason_part"),
    [
        (alert(secret=None), "", {}, 401, "carries no secret"),
        (alert(secret="wrong"), "", {}, 401, "secret is wrong"),
        (alert(secret=None), "?token=wrong", {}, 401, "secret is wrong"),
        (alert(secret=None), f"?token={SECRET}", {}, 202, None),
        (alert(secret=None), "", {"X-Signature": "sha256=00"}, 401, "X-Signature"),
    ],
)
def test_authentication(client, content, query, headers, code, reason_part):
    response = client.post(f"/webhook{query}", content=content, headers=headers)
    assert response.status_code == code, response.text
    if reason_part:
        assert reason_part in response.json()["reason"]
    assert SECRET not in response.text


def test_hmac_signature_authenticates_a_body_without_secret(client):
    body = alert(secret=None).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = client.post("/webhook", content=body, headers={"X-Signature": f"sha256={signature}"})
    assert response.status_code == 202


def test_errors_are_json_with_one_sentence(client):
    too_large = client.post("/webhook", content=b"x" * (64 * 1024 + 1))
    assert too_large.status_code == 413
    assert too_large.json()["status"] == "too_large"
    garbage = client.post("/webhook", content=b"\x00\xff not an alert")
    assert garbage.status_code == 400
    assert garbage.json()["status"] == "unparseable"
    placeholder = client.post("/webhook", content=alert(price="{{close}}"))
    assert placeholder.status_code == 422
    assert placeholder.json()["field"] == "price"
    assert "placeholder" in placeholder.json()["reason"].lower()


def test_low_confidence_is_filtered_recorded_and_not_queued(client, redis_url):
    response = client.post("/webhook", content=alert(confidence=0.2))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "filtered"
    assert "below the threshold 0.6" in body["reason"]
    stored = eventually(lambda: lookup(client, body["signal_id"]))
    assert stored["status"] == "filtered"
    assert Queue("signals", connection=redis.Redis.from_url(redis_url)).count == 0


def test_strategy_in_the_path_and_per_strategy_threshold(redis_url, sqlite_url):
    with make_client(
        redis_url, sqlite_url, intake=IntakePolicy(strategy_thresholds={"careful": 0.9})
    ) as client:
        response = client.post("/webhook/careful", content=alert(confidence=0.8))
        assert response.json()["status"] == "filtered"
        response = client.post("/webhook/bold", content=alert(confidence=0.8))
        assert response.json()["status"] == "queued"


def test_rate_limit_is_429_with_retry_after(redis_url, sqlite_url):
    with make_client(redis_url, sqlite_url, intake=IntakePolicy(rate_limit_per_minute=3)) as client:
        codes = [
            client.post("/webhook", content=alert(qty=str(i + 1))).status_code for i in range(5)
        ]
        assert codes == [202, 202, 202, 429, 429]
        limited = client.post("/webhook", content=alert(qty="7"))
        assert int(limited.headers["Retry-After"]) > 0
        assert limited.json()["status"] == "rate_limited"


def test_read_api_needs_the_token(client):
    assert client.get("/signals").status_code == 401
    assert client.get("/signals", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/signals", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    missing = client.get("/signals/NOPE", headers={"Authorization": f"Bearer {TOKEN}"})
    assert missing.status_code == 404
    assert missing.json()["status"] == "not_found"
    # the token is checked before the query: a stranger learns nothing of the parameters
    for path in ("/signals?limit=100000", "/orders?limit=0"):
        assert client.get(path).status_code == 401


def test_signals_filters_and_pages(client):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    ids = [
        client.post("/webhook", content=alert(qty=str(q), symbol=s)).json()["signal_id"]
        for q, s in [(1, "BTCUSDT"), (2, "ETHUSDT"), (3, "ETHUSDT")]
    ]
    eventually(lambda: len(client.get("/signals", headers=auth).json()["signals"]) == 3)
    eth = client.get("/signals?symbol=ETH/USDT", headers=auth).json()["signals"]
    assert [s["id"] for s in eth] == [ids[2], ids[1]]
    page1 = client.get("/signals?limit=2", headers=auth).json()
    assert [s["id"] for s in page1["signals"]] == [ids[2], ids[1]]
    page2 = client.get(f"/signals?limit=2&before={page1['next']}", headers=auth).json()
    assert [s["id"] for s in page2["signals"]] == [ids[0]]
    assert page2["next"] is None
    bad = client.get("/signals?limit=100000", headers=auth)
    assert bad.status_code == 400
    assert "limit" in bad.json()["reason"]


def test_unknown_paths_and_methods_say_what_to_do(client):
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert "/schema" in missing.json()["reason"]
    wrong = client.get("/webhook")
    assert wrong.status_code == 405
    assert "does not take GET" in wrong.json()["reason"]


def test_health_ready_and_openapi(client):
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "database": "ok"}
    assert ready.json()["processes"]["forwarder"] == "ok"  # its thread beat at its start
    assert "/webhook" in client.get("/schema/openapi.json").json()["paths"]


def test_secret_never_reaches_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    client.post("/webhook", content=alert())
    client.post("/webhook", content=alert(secret="wrong-" + SECRET))
    assert SECRET not in caplog.text
