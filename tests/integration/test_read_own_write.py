"""Read your own write: `GET /signals/{id}` right after the webhook's 202 answers the signal from
the Redis inbox, before the forwarder has moved it to SQL (real app, Redis and SQLite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from litestar.testing import TestClient

from app.adapters.redis.inbox import ENTRY_INDEX_SECONDS, ENTRY_PREFIX
from app.bootstrap.forwarder import build_forwarder
from app.bootstrap.web import Services, build_services
from app.config.settings import Settings
from app.domain.signals import IntakePolicy
from app.entrypoints.web.app import create_app
from app.services.intake import forward

SECRET = "s3cret-Hook-Value"
TOKEN = "api-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def settings(redis_url: str, sqlite_url: str) -> Settings:
    return Settings(
        redis_url=redis_url, database_url=sqlite_url, webhook_secret=SECRET, api_token=TOKEN
    )


@pytest.fixture
def services(settings: Settings) -> Services:
    return build_services(settings)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient[Any]]:
    """The web app with no forwarder: what it accepts stays in the inbox until `move`."""
    with TestClient(create_app(services, run_forwarder=False)) as test_client:
        yield test_client


def move(settings: Settings, services: Services) -> int:
    """One forwarder batch: the inbox into SQL and onto the queue."""
    forwarder = build_forwarder(settings, services.signals)
    return forward(forwarder.reader, forwarder.store, forwarder.queue)


def post(client: TestClient[Any], **fields: Any) -> Any:
    body = {"symbol": "BINANCE:BTCUSDT", "action": "buy", "qty": "0.5", "secret": SECRET}
    body.update(fields)
    return client.post("/webhook", content=json.dumps(body))


def test_a_signal_is_readable_right_after_its_202_and_the_same_once_in_sql(
    client, settings, services, redis_url
):
    accepted = post(client, id="tv-1")
    assert accepted.status_code == 202
    signal_id = accepted.json()["signal_id"]

    early = client.get(f"/signals/{signal_id}", headers=AUTH)
    assert early.status_code == 200, early.text
    queued = early.json()
    assert (queued["id"], queued["status"], queued["symbol"]) == (signal_id, "queued", "BTC/USDT")
    assert [h["status"] for h in queued["history"]] == ["queued"]
    assert "secret" not in json.dumps(queued["payload"])

    assert move(settings, services) == 1
    stored = client.get(f"/signals/{signal_id}", headers=AUTH)
    assert stored.status_code == 200
    assert stored.json() == queued  # the inbox's answer is the one SQL gives
    assert redis.Redis.from_url(redis_url).keys(ENTRY_PREFIX + "*") == []  # forwarded: dropped


def test_a_filtered_signal_is_readable_with_its_reason(redis_url, sqlite_url):
    settings = Settings(
        redis_url=redis_url,
        database_url=sqlite_url,
        webhook_secret=SECRET,
        api_token=TOKEN,
        intake=IntakePolicy(confidence_threshold=0.9),
    )
    with TestClient(create_app(build_services(settings), run_forwarder=False)) as client:
        answered = post(client, confidence=0.5)
        assert answered.status_code == 200
        assert answered.json()["status"] == "filtered"
        found = client.get(f"/signals/{answered.json()['signal_id']}", headers=AUTH).json()
    assert found["status"] == "filtered"
    assert found["reason"] == answered.json()["reason"]


def test_the_first_of_duplicates_is_readable_before_it_is_forwarded(client):
    first = post(client, id="tv-7").json()
    second = post(client, id="tv-7").json()
    assert second == {
        "status": "duplicate",
        "signal_id": first["signal_id"],
        "reason": "the same alert was received before",
    }
    found = client.get(f"/signals/{first['signal_id']}", headers=AUTH)
    assert found.status_code == 200
    assert found.json()["status"] == "queued"


def test_an_unknown_id_is_still_a_404_saying_what_to_use(client):
    post(client)
    missing = client.get("/signals/01NOPE", headers=AUTH)
    assert missing.status_code == 404
    assert "signal_id the webhook answered" in missing.json()["reason"]


def test_the_entry_index_expires_if_never_forwarded(client, redis_url):
    signal_id = post(client).json()["signal_id"]
    ttl = redis.Redis.from_url(redis_url).ttl(ENTRY_PREFIX + signal_id)
    assert 0 < ttl <= ENTRY_INDEX_SECONDS
