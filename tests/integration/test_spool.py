"""A Redis outage mid-test: alerts are spooled to the database and re-queued when Redis is back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from litestar.testing import TestClient
from rq import Queue
from rq.serializers import JSONSerializer

from app.adapters.redis.inbox import DEDUPE_PREFIX, RedisInboxReader
from app.adapters.redis.server import free_port, start_embedded
from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.domain.signals import Action, Signal, SignalRecord, SignalStatus
from app.entrypoints.web.app import create_app
from tests.integration.helpers import eventually, forwarded

AUTH = {"Authorization": "Bearer t"}


def post(client: TestClient[Any], n: int) -> dict[str, Any]:
    body = {"symbol": "ETHUSDT", "action": "sell", "qty": str(n), "id": f"spool-{n}"}
    response = client.post("/webhook", content=json.dumps(body))
    assert response.status_code == 202, response.text
    return response.json()


def test_redis_outage_spools_then_requeues_without_loss(tmp_path: Path, sqlite_url: str):
    port = free_port()
    url, server = start_embedded(tmp_path / "redis", port)
    settings = Settings(redis_url=url, database_url=sqlite_url, api_token="t")
    try:
        with TestClient(create_app(build_services(settings))) as client:
            before = post(client, 1)
            assert before["status"] == "queued"
            eventually(lambda: forwarded(url, before["signal_id"]))

            server.terminate()
            server.wait(10)
            spooled = [post(client, n) for n in (2, 3)]
            assert {s["status"] for s in spooled} == {"spooled"}
            copy = client.post(
                "/webhook",
                content=json.dumps(
                    {"symbol": "ETHUSDT", "action": "sell", "qty": "2", "id": "spool-2"}
                ),
            )
            assert copy.json()["status"] == "duplicate"
            assert copy.json()["signal_id"] == spooled[0]["signal_id"]
            ready = client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] == "ok"
            for s in spooled:
                stored = client.get(f"/signals/{s['signal_id']}", headers=AUTH).json()
                assert stored["status"] == "spooled"

            url, server = start_embedded(tmp_path / "redis", port)  # back, same port
            for s in spooled:
                eventually(
                    lambda s=s: (
                        client.get(f"/signals/{s['signal_id']}", headers=AUTH).json()["status"]
                        == "queued"
                    ),
                    timeout=20,
                )
            queue = Queue(
                "signals", connection=redis.Redis.from_url(url), serializer=JSONSerializer
            )
            queued: list[str] = []  # every signal is in exactly one job (re-queued ones batched)
            for job in queue.jobs:
                queued += job.args[0] if job.func_name.endswith("signals") else [job.args[0]]
            assert sorted(queued) == sorted(x["signal_id"] for x in [before, *spooled])
            history = client.get(f"/signals/{spooled[0]['signal_id']}", headers=AUTH).json()[
                "history"
            ]
            assert [h["status"] for h in history] == ["spooled", "queued"]
            # after the re-queue, a copy through Redis is still a duplicate
            again = client.post(
                "/webhook",
                content=json.dumps(
                    {"symbol": "ETHUSDT", "action": "sell", "qty": "2", "id": "spool-2"}
                ),
            )
            assert again.json()["status"] == "duplicate"
    finally:
        server.terminate()
        server.wait(10)


def test_neither_redis_nor_database_answers_503(tmp_path: Path):
    port = free_port()  # nothing listens there
    settings = Settings(
        redis_url=f"redis://127.0.0.1:{port}/0",
        database_url=f"sqlite:///{tmp_path}/missing/dir/db.sqlite",
    )
    with TestClient(create_app(build_services(settings))) as client:
        response = client.post("/webhook", content=b'{"symbol": "BTCUSDT", "action": "buy"}')
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert "send it again" in response.json()["reason"]


def test_a_claim_of_a_key_held_by_another_alert_names_its_first_signal(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    reader = RedisInboxReader(client)
    at = datetime.now(UTC)
    signal = Signal(symbol="BTC/USDT", action=Action.BUY, source="tradingview:native")

    def record(signal_id: str) -> SignalRecord:
        return SignalRecord(id=signal_id, received_at=at, status=SignalStatus.SPOOLED,
                            signal=signal, dialect="native", dedupe_key="claim-test")  # fmt: skip

    client.set(DEDUPE_PREFIX + "claim-test", "A1,A2", ex=60)  # admitted through Redis first
    assert reader.claim_dedupe([(record("B1"), 60), (record("B2"), 60)]) == {
        "B1": "A1",
        "B2": "A1",
    }
    assert reader.claim_dedupe([(record("A2"), 60)]) == {}  # its own alert: no duplicate
    client.close()
