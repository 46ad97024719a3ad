"""The OpenAPI document at /schema tells the truth: schemathesis (its pytest integration) reads the
document the app serves on 127.0.0.1, generates requests from it (examples, coverage of each
parameter and body, fuzzing; a bounded number per operation) and checks every answer against it:
statuses, bodies, content types, headers, the bearer scheme, 405s with Allow, and that what the
document allows is accepted and what it forbids is refused.

Two runs: one as a client that knows API_TOKEN but not WEBHOOK_SECRET (every mode, every
operation: alerts end at 400, 401 or 422), and one that sends WEBHOOK_SECRET as ?token= (the
webhook only, valid alerts only: they reach intake and are answered 202 or 200).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import msgspec
import pytest
import redis
import requests
import schemathesis
import uvicorn
from cryptography.fernet import Fernet
from litestar.serialization import decode_json, encode_json
from schemathesis import Case, CheckContext, Response

from app.bootstrap.connections import build_connections, connection_venue
from app.bootstrap.local import migrate
from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.domain.connections import Connection, VenueKeys
from app.entrypoints.web.app import create_app
from app.ports.exchange import Exchange

TOKEN = "api-token-contract"
SECRET = "webhook-secret-contract"
EXAMPLES = 15  # fuzzed cases per operation; examples and coverage cases come on top

# A schema cannot state rules between fields; the webhook answers their breach 422 with a
# sentence that names the rule (the body's description states each of them).
_RULES_BETWEEN_FIELDS = (
    "shares must add up",
    "puts the price at or below zero",
)
_ACCEPTED = {401, 403, 404, 409, 429}


@schemathesis.check
def valid_data_is_accepted(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """schemathesis's positive_data_acceptance, except a webhook 422 for a rule between fields."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    code = response.status_code
    if code < 400 or code >= 500 or code in _ACCEPTED:
        return None
    if code == 422 and case.operation.path.startswith("/webhook"):
        reason = str(response.json().get("reason", ""))
        if any(rule in reason for rule in _RULES_BETWEEN_FIELDS):
            return None
    raise AssertionError(f"a request the schema allows was refused: {code} {response.text}")


def _config(**project: Any) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": 15,
            "generation": {"max-examples": EXAMPLES, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
            # replaced by valid_data_is_accepted above; every other check runs
            "checks": {"positive_data_acceptance": {"enabled": False}},
            "auth": {"openapi": {"bearer": {"bearer": TOKEN}}},
            **project,
        }
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def nowhere(connection: Connection, keys: VenueKeys) -> Exchange:
    """A generated connection's venue, at an address where nothing listens: a test of the
    contract reaches no real venue (it answers "did not answer")."""
    at = msgspec.structs.replace(connection, api_url="http://127.0.0.1:9")
    return connection_venue(at, keys, {})


@pytest.fixture(scope="module")
def served(redis_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with API_TOKEN and WEBHOOK_SECRET set, served by uvicorn on 127.0.0.1."""
    flushed = redis.Redis.from_url(redis_server_url)
    flushed.flushdb()
    database = f"sqlite:///{Path(tmp_path_factory.mktemp('contract')) / 'signalgate.db'}"
    migrate(Settings(database_url=database))
    settings = Settings(
        redis_url=redis_server_url,
        database_url=database,
        webhook_secret=SECRET,
        api_token=TOKEN,
        secrets_keys=(Fernet.generate_key().decode(),),  # connections' keys are stored
    )
    services = build_services(settings)
    services.connections = build_connections(settings, services.engine, open_venue=nowhere)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(services),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the app stopped while starting"
        assert time.monotonic() < deadline, "the app did not start within 20 s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)
    flushed.flushdb()
    flushed.close()


# The document as the app builds it (no services needed), loaded when pytest collects: the
# pytest integration makes one test per operation from it. test_the_served_document_is_this_one
# holds it to what /schema/openapi.json serves.
DOCUMENT = decode_json(encode_json(create_app().openapi_schema.to_schema()))
every_operation = schemathesis.openapi.from_dict(DOCUMENT, config=_config())
webhook_with_secret = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=_config(
        generation={"max-examples": EXAMPLES, "database": "none", "mode": "positive"},
        auth={"openapi": {"webhookToken": {"api_key": SECRET}}},
    ),
).include(path_regex="^/webhook")


def test_the_served_document_is_this_one(served: str) -> None:
    assert requests.get(f"{served}/schema/openapi.json", timeout=10).json() == DOCUMENT


@every_operation.parametrize()
def test_every_answer_is_documented(case: Case, served: str) -> None:
    case.call_and_validate(base_url=served, additional_checks=[valid_data_is_accepted])


@webhook_with_secret.parametrize()
def test_valid_alerts_are_answered_as_documented(case: Case, served: str) -> None:
    response = case.call_and_validate(base_url=served, additional_checks=[valid_data_is_accepted])
    assert response.status_code in {200, 202, 401, 422}, response.text


def test_since_takes_an_iso_time_only(served: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    number = requests.get(f"{served}/signals?since=0.5", headers=auth, timeout=10)
    assert number.status_code == 400
    assert number.json()["reason"].startswith("a query parameter is invalid: since: must be")
    for time_text in ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00", "0001-01-01T00:00:00+05:00"):
        answer = requests.get(f"{served}/signals", {"since": time_text}, headers=auth, timeout=10)
        assert answer.status_code == (400 if time_text.startswith("0001") else 200), answer.text


def test_a_method_a_route_does_not_take_is_answered_405_with_allow(served: str) -> None:
    answer = requests.delete(f"{served}/ready", timeout=10)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "GET, OPTIONS"
    assert answer.json()["status"] == "method_not_allowed"


@pytest.mark.parametrize("media_type", ["application/json", "text/plain"])
def test_every_documented_alert_example_is_kept(served: str, media_type: str) -> None:
    content = DOCUMENT["paths"]["/webhook"]["post"]["requestBody"]["content"][media_type]
    schema = jsonschema_rs.validator_for(content["schema"])
    for name, example in content["examples"].items():
        value = example["value"]
        assert schema.is_valid(value), name
        body = value if isinstance(value, str) else json.dumps(value)
        answer = requests.post(
            f"{served}/webhook?token={SECRET}",
            data=body.encode(),
            headers={"Content-Type": media_type},
            timeout=10,
        )
        assert answer.status_code in {200, 202}, (name, answer.text)
        assert answer.json()["status"] in {"queued", "duplicate"}, (name, answer.text)


def test_an_order_cursor_beyond_a_database_integer_is_refused(served: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answer = requests.get(f"{served}/orders?before={2**70}", headers=auth, timeout=10)
    assert answer.status_code == 400, answer.text  # was a 500: the query overflowed
    assert "before" in answer.json()["reason"]
