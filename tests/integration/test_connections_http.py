"""`/connections` over HTTP, on SQLite and PostgreSQL, against the local fake Binance: add, test,
change, remove; no answer, error body or log line holds a key (every one is searched); the
admin rule, SECRETS_KEY's absence and the environment's read-only venues answered in one
sentence."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from litestar.testing import TestClient

from app.bootstrap.logs import configure_logging
from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.entrypoints.web.app import create_app
from tests.fake_binance import API_KEY, API_SECRET, RunningFake

TOKEN = "api-token-connections"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRONG = "not-the-api-secret"
SECRETS = (API_KEY, API_SECRET, WRONG)


class Recorded:
    """Every answer the client got, to search for keys."""

    def __init__(self, client: TestClient[Any]) -> None:
        self.client = client
        self.bodies: list[str] = []

    def __call__(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.client.request(method, path, headers=AUTH, **kwargs)
        self.bodies.append(answer.text)
        return answer


def app_client(redis_url: str, database: str, **overrides: Any) -> TestClient[Any]:
    settings = Settings(redis_url=redis_url, database_url=database, api_token=TOKEN,
                        secrets_keys=(Fernet.generate_key().decode(),))  # fmt: skip
    settings = dataclasses.replace(settings, **overrides)
    return TestClient(create_app(build_services(settings), run_forwarder=False))


@pytest.fixture
def http(redis_url: str, database: str) -> Iterator[Recorded]:
    with app_client(redis_url, database) as client:
        yield Recorded(client)


def binance(url: str, secret: str = API_SECRET, name: str = "binance_main") -> dict[str, Any]:
    return {"name": name, "venue": "binance", "mode": "testnet", "api_key": API_KEY,
            "api_secret": secret, "api_url": url}  # fmt: skip


def test_a_connection_added_tested_changed_and_removed_over_http(
    http: Recorded, fake: RunningFake, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(Settings(log_level="DEBUG"))  # ccxt logs each request, headers and all
    added = http("POST", "/connections", json=binance(fake.url, WRONG))
    assert added.status_code == 201, added.text
    shown = added.json()
    assert {k: shown[k] for k in ("id", "name", "source", "key_fields", "api_key_hint")} == {
        "id": 1, "name": "binance_main", "source": "stored",
        "key_fields": ["api_key", "api_secret"], "api_key_hint": "…key",
    }  # fmt: skip

    failed = http("POST", "/connections/binance_main/test")
    assert failed.status_code == 200
    result = failed.json()["last_test"]
    assert result["status"] == "failed"
    assert result["reason"].startswith("the API secret is refused: the venue finds the signature")
    assert http("GET", "/connections/1").json()["last_test"] == result

    replaced = http("PATCH", "/connections/1", json={"api_secret": API_SECRET})
    assert replaced.json()["last_test"] is None  # that test was of the other keys
    tested = http("POST", "/connections/1/test").json()["last_test"]
    assert tested["status"] == "ok"
    assert tested["balance"] == {"BTC": "0.5", "ETH": "2", "USDT": "10000"}
    assert len(tested["log"]) == 3
    listed = http("GET", "/connections").json()
    assert [(c["name"], c["source"], c["id"]) for c in listed] == [
        ("paper", "environment", None), ("binance_main", "stored", 1)
    ]  # fmt: skip
    disabled = http("PATCH", "/connections/binance_main", json={"enabled": False, "name": "main"})
    assert (disabled.json()["name"], disabled.json()["enabled"]) == ("main", False)
    assert http("DELETE", "/connections/main").status_code == 204
    gone = http("GET", "/connections/main")
    assert gone.status_code == 404
    assert gone.json()["reason"] == (
        "no connection is named or numbered 'main': GET /connections lists them."
    )

    logged = capsys.readouterr().err
    assert 'msg="connection binance_main tested: the API secret is refused' in logged
    assert "X-MBX-APIKEY': '***'" in logged  # ccxt's request line, the key hidden
    for secret in SECRETS:
        assert secret not in logged
        for body in http.bodies:
            assert secret not in body


def test_refusals_are_one_sentence_and_hold_no_key(http: Recorded, fake: RunningFake) -> None:
    http("POST", "/connections", json=binance(fake.url))
    bad_name = http("POST", "/connections", json=binance(fake.url, name="Binance Main"))
    short = http("POST", "/connections", json=binance(fake.url, secret="short"))
    paper_mode = http("POST", "/connections", json=binance(fake.url) | {"mode": "paper"})
    not_json = http("POST", "/connections", content=b'{"name": ')
    taken = http("POST", "/connections", json=binance(fake.url))
    environment = http("PATCH", "/connections/paper", json={"enabled": False})
    paper = {"name": "p", "venue": "paper", "mode": "paper"}
    paper_keys = http("POST", "/connections", json=paper | {"api_key": API_KEY})
    nothing = http("PATCH", "/connections/1", json={})

    assert [(r.status_code, r.json().get("field")) for r in (bad_name, short, paper_mode)] == [
        (422, "name"), (422, "api_secret"), (422, "mode")
    ]  # fmt: skip
    assert bad_name.json()["reason"].startswith("the body is invalid: Expected `str` matching")
    assert paper_mode.json()["reason"] == (
        "a binance connection trades in testnet or live mode only, not 'paper'"
    )
    assert not_json.status_code == 400
    assert not_json.json()["status"] == "bad_request"
    assert (taken.status_code, taken.json()["status"]) == (409, "conflict")
    assert taken.json()["reason"] == "a connection named binance_main exists: pick another name."
    assert environment.status_code == 409
    assert environment.json()["reason"].startswith("paper is configured by environment (VENUES)")
    assert (paper_keys.status_code, paper_keys.json()["field"]) == (422, "api_key")
    assert nothing.status_code == 422
    for secret in SECRETS:
        for body in http.bodies:
            assert secret not in body


def test_keys_need_secrets_key_and_changes_need_api_token(
    redis_url: str, database: str, fake: RunningFake
) -> None:
    with app_client(redis_url, database, secrets_keys=()) as client:
        no_key = client.post("/connections", json=binance(fake.url), headers=AUTH)
        paper_two = {"name": "paper_two", "venue": "paper", "mode": "paper"}
        paper = client.post("/connections", json=paper_two, headers=AUTH)
        listed = client.get("/connections", headers=AUTH).json()
    with app_client(redis_url, database, api_token=None) as client:
        no_token = client.post("/connections", json=binance(fake.url))
        read = client.get("/connections")  # the read API's rule: this machine only

    assert no_key.status_code == 403
    assert no_key.json()["reason"].startswith(
        "SECRETS_KEY is not set, so keys cannot be stored encrypted: set it to a key made by"
        " `signalgate connections genkey`"
    )
    assert paper.status_code == 201
    assert no_token.status_code == 403
    assert no_token.json()["reason"].startswith("the admin API needs API_TOKEN")
    assert [c["name"] for c in listed] == ["paper", "paper_two"]
    assert read.status_code == 401
    assert read.json()["reason"] == (
        "API_TOKEN is not set, so the read API answers only on this machine: set API_TOKEN."
    )


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/connections", "GET, OPTIONS, POST"),
        ("/connections/1", "DELETE, GET, OPTIONS, PATCH"),
        ("/connections/1/test", "OPTIONS, POST"),
    ],
)
def test_options_lists_every_method_of_a_connections_path(
    http: Recorded, path: str, allowed: str
) -> None:
    answer = http("OPTIONS", path)
    assert (answer.status_code, answer.headers["Allow"]) == (204, allowed)
