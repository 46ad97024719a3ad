"""The console's notification settings and accounts pages over the real Redis and SQLite: what
they show (never a channel's URL or a secret of it), their buttons (a test message queued for one
channel; an account halted, reduced or resumed with its reason), and their refusals (no
session, another site, a missing reason, an unknown channel or account)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import time
from typing import Any

import pytest
import redis
from litestar.testing import TestClient

from app.adapters.notify.channels import channel_secrets
from app.adapters.notify.deliveries import OUTCOMES_KEY
from app.adapters.notify.queue import notifications_queue
from app.config.notify import NotifySettings
from app.domain.notifications import parse_routes
from tests.integration.helpers import eventually
from tests.integration.test_console import post, sentence
from tests.integration.test_webhook_http import TOKEN, make_client

URLS = (
    "tgram://123456789:AAHsecretBotToken42/-1001234567",
    "json://hook-user:hook-password@127.0.0.1:9/path-secret?token=query-secret",
    "nosuch://unknown-secret-value/x",  # a scheme apprise does not know
)
CROSS_SITE = {"Origin": "https://evil.example"}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def logged_in(client: TestClient[Any]) -> TestClient[Any]:
    answer = post(client, "/console/login", token=TOKEN, next="/console/signals")
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def notifying(redis_url: str, sqlite_url: str) -> Iterator[TestClient[Any]]:
    notify = NotifySettings(
        urls=URLS,
        routes=parse_routes("0:all;1:urgent,closed,-drift", len(URLS)),
        per_minute=12,
        summary_at=time(21, 30),
    )
    with make_client(redis_url, sqlite_url, notify=notify) as client:
        yield logged_in(client)


@pytest.fixture
def quiet(redis_url: str, sqlite_url: str) -> Iterator[TestClient[Any]]:
    with make_client(redis_url, sqlite_url) as client:
        yield logged_in(client)


def queued(redis_url: str) -> list[str]:
    with redis.Redis.from_url(redis_url) as client:
        return list(notifications_queue(client).job_ids)


# --- notifications


def test_each_channel_by_index_and_service_with_its_events_and_counts(notifying, redis_url):
    with redis.Redis.from_url(redis_url) as client:
        client.hset(OUTCOMES_KEY, mapping={"0,telegram,sent": 7, "0,telegram,retried": 2,
                                           "1,json,failed": 3, "1,discord,sent": 99})  # fmt: skip
    page = notifying.get("/console/notifications")
    assert page.status_code == 200
    text = page.text
    rows = {i: text.split(f'<tr id="channel-{i}">')[1].split("</tr>")[0] for i in range(3)}
    assert "<td>telegram</td>" in rows[0]
    assert "every event" in rows[0]
    assert '<td class="num">7</td><td class="num">2</td><td class="num">0</td>' in rows[0]
    assert "<td>json</td>" in rows[1]
    for kind in ("closed", "unprotected", "in_doubt"):
        assert f">{kind}</span>" in rows[1]
    assert ">drift<" not in rows[1]
    assert ">executed<" not in rows[1]
    assert '<td class="num bad">3</td>' in rows[1]
    assert "99" not in rows[1]  # the counts of a service the channel had before
    assert "not an apprise URL" in rows[2]
    assert "disabled" in rows[2]  # no test button for it
    assert "12 messages a minute per channel" in text
    assert "at 21:30 UTC" in text
    assert "0 on the <code>notifications</code> queue" in text


def test_no_secret_of_a_channel_url_appears(notifying):
    shown = {"AAHsecretBotToken42", "hook-password", "path-secret", "query-secret", "123456789"}
    secrets = channel_secrets(URLS) | shown | {"unknown-secret-value"}
    assert secrets
    post(notifying, "/console/notifications/test", channel="1")
    for page in ("/console/notifications", "/console/notifications?tested=1"):
        text = notifying.get(page).text
        for secret in secrets:
            assert secret not in text, f"{page} shows a secret"
    refused = post(notifying, "/console/notifications/test", channel="7")
    for secret in secrets:
        assert secret not in refused.text


def test_a_test_message_is_queued_for_its_channel_alone(notifying, redis_url):
    answer = post(notifying, "/console/notifications/test", channel="1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/notifications?tested=1"
    jobs = eventually(lambda: queued(redis_url))
    assert len(jobs) == 1
    assert jobs[0].startswith("notify-1-test-")
    with redis.Redis.from_url(redis_url) as client:
        job = notifications_queue(client).fetch_job(jobs[0])
        assert job is not None
        channel, event = job.args
    assert channel == 1
    assert event["kind"] == "test"
    assert event["by"] == "console"
    page = notifying.get(answer.headers["location"]).text
    assert "A test message to channel 1 is queued" in page


def test_a_test_message_to_no_channel_is_refused(notifying, quiet, redis_url):
    for channel in ("3", "-1", "x", ""):
        answer = post(notifying, "/console/notifications/test", channel=channel)
        assert answer.status_code == 400, channel
        assert "NOTIFY_URLS has 3, numbered from 0." in sentence(answer.text)
    none = post(quiet, "/console/notifications/test", channel="0")
    assert sentence(none.text) == "there is no channel '0': NOTIFY_URLS has 0, numbered from 0."
    assert queued(redis_url) == []


def test_a_test_message_needs_a_session_and_the_same_site(notifying, redis_url):
    crossed = notifying.post(
        "/console/notifications/test", data={"channel": "0"}, headers=CROSS_SITE
    )
    assert crossed.status_code == 403
    assert sentence(crossed.text) == "the console refuses changes sent by other sites."
    notifying.cookies.clear()
    anonymous = post(notifying, "/console/notifications/test", channel="0")
    assert anonymous.status_code == 401
    assert queued(redis_url) == []


def test_without_channels_the_page_says_how_to_add_one(quiet):
    page = quiet.get("/console/notifications").text
    assert "No channel: set <code>NOTIFY_URLS</code>" in page
    assert "20 messages a minute per channel" in page
    assert "at 00:00 UTC" in page


# --- accounts


@pytest.fixture
def with_accounts(quiet: TestClient[Any]) -> TestClient[Any]:
    accounts = [
        {"name": "main", "connections": ["paper"], "limits": {"max_open_positions": 2},
         "size": {"qty_mode": "quote", "quantity": "250"}},
        {"name": "fund_b", "multiplier": "0.5"},
    ]  # fmt: skip
    for body in accounts:
        assert quiet.post("/accounts", json=body, headers=BEARER).status_code == 201
    for strategy, account, enabled in (("trend", "main", True), ("trend", "fund_b", False)):
        body = {"strategy": strategy, "account": account, "enabled": enabled}
        assert quiet.post("/subscriptions", json=body, headers=BEARER).status_code == 200
    return quiet


def account(client: TestClient[Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/accounts/{name}", headers=BEARER).json()
    return found


def test_each_account_with_its_connections_limits_sizing_and_state(with_accounts):
    text = with_accounts.get("/console/accounts").text
    main = text.split('id="account-main"')[1].split("</section>")[0]
    assert "paper (paper, paper)" in main
    assert "open positions <strong>2</strong>" in main
    assert "order notional 1,000 (global)" in main
    assert "every entry <strong>250 quote</strong>" in main
    assert '<span class="state state-active">active</span>' in main
    fund = text.split('id="account-fund_b"')[1].split("</section>")[0]
    assert "every configured venue" in fund
    assert "times <strong>0.5</strong>" in fund
    subscriptions = text.split('<h2 id="subscriptions">Subscriptions</h2>')[1]
    rows = re.findall(r"<tr><td>trend</td>.*?</tr>", subscriptions, re.DOTALL)
    assert len(rows) == 2
    assert 'href="#account-fund_b">fund_b</a></td><td><span class="status">no' in rows[0]
    assert 'href="#account-main">main</a></td><td><span class="status status-ok">yes' in rows[1]


def test_halt_reduce_and_resume_one_account_with_a_reason(with_accounts):
    for state in ("halted", "reducing_only", "active"):
        answer = post(with_accounts, "/console/accounts/main/state", state=state,
                      reason=f"  {state}   drill ")  # fmt: skip
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/accounts#account-main"
        kept = account(with_accounts, "main")
        assert kept["trading_state"] == state
        assert kept["state_reason"] == f"{state} drill (console)"
        assert account(with_accounts, "fund_b")["trading_state"] == "active"
    page = with_accounts.get("/console/accounts").text
    assert "active: active drill (console)" in page
    halted = post(with_accounts, "/console/accounts/fund_b/state", state="halted", reason="x")
    assert halted.status_code == 303
    assert "trading: active" in with_accounts.get("/console/accounts").text  # the global switch


def test_account_changes_refused(with_accounts):
    no_reason = post(with_accounts, "/console/accounts/main/state", state="halted", reason=" ")
    assert no_reason.status_code == 400
    assert sentence(no_reason.text) == "give a reason: it is kept with the account's state."
    wrong = post(with_accounts, "/console/accounts/main/state", state="off", reason="x")
    assert wrong.status_code == 400
    ghost = post(with_accounts, "/console/accounts/ghost/state", state="halted", reason="x")
    assert ghost.status_code == 404
    assert sentence(ghost.text) == (
        "no account is named 'ghost': `signalgate accounts list` shows them."
    )
    crossed = with_accounts.post(
        "/console/accounts/main/state", data={"state": "halted", "reason": "x"}, headers=CROSS_SITE
    )
    assert crossed.status_code == 403
    with_accounts.cookies.clear()
    anonymous = post(with_accounts, "/console/accounts/main/state", state="halted", reason="x")
    assert anonymous.status_code == 401
    assert account(with_accounts, "main")["trading_state"] == "active"


def subscribed(client: TestClient[Any]) -> dict[tuple[str, str], bool]:
    found = client.get("/subscriptions", headers=BEARER).json()
    return {(s["strategy"], s["account"]): s["enabled"] for s in found}


def test_a_subscription_is_disabled_and_enabled_from_its_button(with_accounts):
    form = {"strategy": "trend", "account": "main"}
    assert 'name="enabled" value="false"><button type="submit" class="small">Disable' in (
        with_accounts.get("/console/accounts").text
    )
    answer = post(with_accounts, "/console/subscriptions", **form, enabled="false")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/accounts#subscriptions"
    assert subscribed(with_accounts)[("trend", "main")] is False
    post(with_accounts, "/console/subscriptions", **form, enabled="true")
    assert subscribed(with_accounts) == {("trend", "main"): True, ("trend", "fund_b"): False}


def test_subscription_changes_refused(with_accounts):
    ghost = post(with_accounts, "/console/subscriptions", strategy="trend", account="ghost",
                 enabled="true")  # fmt: skip
    assert ghost.status_code == 404
    bad = post(with_accounts, "/console/subscriptions", strategy="a b", account="main",
               enabled="true")  # fmt: skip
    assert bad.status_code == 400
    assert sentence(bad.text).startswith("a strategy name is 1 to 100 letters")
    crossed = with_accounts.post(
        "/console/subscriptions",
        data={"strategy": "trend", "account": "main", "enabled": "false"},
        headers=CROSS_SITE,
    )
    assert crossed.status_code == 403
    with_accounts.cookies.clear()
    anonymous = post(with_accounts, "/console/subscriptions", strategy="trend", account="main",
                     enabled="false")  # fmt: skip
    assert anonymous.status_code == 401
    assert subscribed(with_accounts)[("trend", "main")] is True


def test_without_accounts_the_page_says_what_trades(quiet):
    page = quiet.get("/console/accounts").text
    assert "No account: every alert trades the implicit account <code>default</code>" in page
    assert "No subscription" in page
