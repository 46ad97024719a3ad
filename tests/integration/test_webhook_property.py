"""Arbitrary bodies and headers at /webhook: never a 5xx, never a secret in a response or a log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from app.bootstrap.local import migrate
from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.domain.signals import IntakePolicy
from app.entrypoints.web.app import create_app

SECRET = "Pr0p-Secret-9f2c"

KEYS = [
    "symbol", "ticker", "action", "side", "qty", "quantity", "contracts", "price", "take_profit",
    "stop_loss", "takeProfit", "stopLoss", "sentiment", "quantityType", "orderType", "limitPrice",
    "tv_instrument", "trigger_price", "max_lag", "timestamp", "order", "market_position",
    "confidence", "strategy", "id", "time", "secret", "passphrase", "token", "dialect",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [SECRET, "buy", "sell", "close", "BTCUSDT", "BINANCE:ETHUSDT.P", "{{close}}", "1e400",
         "nan", "-1", "0.5", "2024-05-01T12:00:00Z", f"x{SECRET}x", "exit", "enter_long"]
    ),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)
json_alerts = st.dictionaries(st.sampled_from(KEYS), values, max_size=10).map(
    lambda d: json.dumps(d).encode()
)
text_alerts = st.lists(
    st.tuples(
        st.sampled_from([k.upper() for k in KEYS] + ["SIGNAL", "VOLUME"]), st.text(max_size=12)
    ),
    max_size=8,
).map(lambda kv: ";".join(f"{k}={v}" for k, v in kv).encode())
pine_alerts = st.lists(
    st.sampled_from([SECRET, "buy", "closelong", "BTCUSDT", "risk=1", "sl=x", "tp=5", "price=10"]),
    max_size=7,
).map(lambda parts: ",".join(parts).encode())
# Well-formed alerts too, so that the auth and intake paths are reached, not only the decoder.
valid = st.builds(
    lambda n, secret: json.dumps(
        {"symbol": "BTCUSDT", "action": "buy", "qty": str(n), "secret": secret}
    ).encode(),
    st.integers(1, 10**6),
    st.sampled_from([SECRET, "", "wrong", SECRET + "x"]),
)
bodies = st.one_of(valid, valid, json_alerts, text_alerts, pine_alerts, st.binary(max_size=300))
latin1 = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=60)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(
            ["application/json", "text/plain", "application/x-www-form-urlencoded", "\x7f"]
        ),
        "X-Signature": st.one_of(
            latin1, latin1.map("sha256=".__add__), st.just("sha256=" + "ab" * 32)
        ),
        "X-Forwarded-For": st.one_of(latin1, st.just("52.89.214.238, 1.2.3.4")),
    },
).map(lambda h: {k: v.encode("latin-1") for k, v in h.items()})
paths = st.sampled_from(
    ["/webhook", "/webhook/prop", f"/webhook?token={SECRET}x", "/webhook?token="]
)


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The test's own client (httpx) logs each URL it requests, ?token= included: that line
        # is the caller's, not the service's.
        if not record.name.startswith(("httpx", "httpcore")):
            self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def log_lines() -> Iterator[list[str]]:
    handler = Captured()
    handler.setFormatter(logging.Formatter("%(message)s %(exc_info)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="module")
def client(
    redis_server_url: str, tmp_path_factory: pytest.TempPathFactory, log_lines
) -> Iterator[TestClient[Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('prop') / 'db.sqlite'}"
    migrate(Settings(database_url=url))
    configured = Settings(
        redis_url=redis_server_url,
        database_url=url,
        webhook_secret=SECRET,
        api_token="tok",
        intake=IntakePolicy(rate_limit_per_minute=1_000_000),
        trusted_proxies=(),
    )
    with TestClient(
        create_app(build_services(configured)), raise_server_exceptions=False
    ) as test_client:
        yield test_client


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies, request_headers=headers, path=paths)
def test_any_request_gets_a_json_answer_below_500_without_the_secret(
    client: TestClient[Any],
    log_lines: list[str],
    body: bytes,
    request_headers: dict[str, bytes],
    path: str,
) -> None:
    log_lines.clear()
    response = client.post(path, content=body, headers=request_headers)
    assert response.status_code < 500, response.text
    answer = response.json()
    assert answer["status"]
    assert SECRET not in response.text
    assert not any(SECRET in line for line in log_lines), log_lines
