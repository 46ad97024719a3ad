"""`/accounts` and `/subscriptions` over HTTP, on SQLite and PostgreSQL: add, change, halt and
remove an account, subscribe it; the admin rule, and each refusal in one sentence."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.entrypoints.web.app import create_app

TOKEN = "api-token-accounts"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def http(redis_url: str, database: str) -> Iterator[TestClient[Any]]:
    settings = Settings(redis_url=redis_url, database_url=database, api_token=TOKEN)
    with TestClient(create_app(build_services(settings), run_forwarder=False)) as client:
        client.headers.update(AUTH)
        yield client


def test_an_account_added_subscribed_halted_and_removed_over_http(http: TestClient[Any]) -> None:
    body = {"name": "main", "connections": ["paper"], "limits": {"max_order_notional": 2500},
            "size": {"qty_mode": "quote", "quantity": 100}, "multiplier": 2}  # fmt: skip
    added = http.post("/accounts", json=body)
    assert added.status_code == 201, added.text
    assert added.json() == {
        "name": "main", "connections": ["paper"], "limits": {"max_order_notional": "2500"},
        "sizing": {"qty_mode": "quote", "quantity": "100", "multiplier": "2"},
        "trading_state": "active", "state_reason": None, "notify": None,
        "created_at": added.json()["created_at"], "updated_at": added.json()["updated_at"],
    }  # fmt: skip
    subscribed = http.post("/subscriptions", json={"strategy": "trend", "account": "main"})
    assert subscribed.status_code == 200
    assert subscribed.json()["enabled"] is True

    halted = http.patch("/accounts/main", json={"trading_state": "halted", "reason": "audit"})
    assert (halted.json()["trading_state"], halted.json()["state_reason"]) == ("halted", "audit")
    resized = http.patch("/accounts/main", json={"size": None, "multiplier": 3})
    assert resized.json()["sizing"] == {"multiplier": "3"}
    assert http.get("/accounts").json()[0]["trading_state"] == "halted"
    listed = http.get("/subscriptions").json()
    assert [(s["strategy"], s["account"]) for s in listed] == [("trend", "main")]

    assert http.delete("/subscriptions/trend/main").status_code == 204
    assert http.delete("/accounts/main").status_code == 204
    assert http.get("/accounts").json() == []


def test_refusals_say_what_to_do(http: TestClient[Any]) -> None:
    http.post("/accounts", json={"name": "main"})
    refused = [
        (http.post("/accounts", json={"name": "main"}), 409,
         "an account is already named main: choose another name, or change that one"),
        (http.post("/accounts", json={"name": "b", "connections": ["kraken"]}), 409,
         "no connection is named kraken: `signalgate connections list` shows them (VENUES or"
         " `signalgate connections add`)"),
        (http.post("/accounts", json={"name": "b", "multiplier": 0}), 422,
         "multiplier must be a number above 0 and at most 1,000"),
        (http.post("/accounts", json={"name": "b", "size": {"qty_mode": "risk_percent",
                                                            "quantity": 101}}), 422,
         "quantity must be a number above 0 and at most 100"),
        (http.post("/subscriptions", json={"strategy": "trend", "account": "ghost"}), 404,
         "no account is named 'ghost': `signalgate accounts list` shows them"),
        (http.patch("/accounts/ghost", json={"multiplier": 2}), 404,
         "no account is named 'ghost': `signalgate accounts list` shows them"),
        (http.patch("/accounts/main", json={}), 422,
         "the body changes nothing: give at least one field."),
    ]  # fmt: skip
    for answer, code, sentence in refused:
        assert (answer.status_code, answer.json()["reason"]) == (code, sentence)
    anonymous = http.post("/accounts", json={"name": "c"}, headers={"Authorization": ""})
    assert anonymous.status_code == 401


def test_a_whole_number_written_with_a_point_is_a_count(http: TestClient[Any]) -> None:
    """JSON Schema's `integer` (the document's) holds 3.0: the API takes it as the count 3."""
    added = http.post("/accounts", json={"name": "main", "limits": {"max_open_positions": 3.0}})
    assert added.status_code == 201, added.text
    changed = http.patch("/accounts/main", json={"limits": {"max_orders_per_minute": 20.0}})
    assert changed.json()["limits"] == {"max_orders_per_minute": 20}
    refused = http.patch("/accounts/main", json={"limits": {"max_open_positions": 2.5}})
    assert (refused.status_code, refused.json()["field"]) == (422, "limits")
