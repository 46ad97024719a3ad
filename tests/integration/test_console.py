"""The console at /console over the real Redis and SQLite: who may open it (the token once, then
its cookie), refusals of cross-site changes, and what each page shows."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.entrypoints.web.app import create_app
from app.entrypoints.web.console.pages import NAVIGATION
from app.entrypoints.web.guards import CONSOLE_DOOR, COOKIE
from tests.integration.helpers import eventually
from tests.integration.test_webhook_http import SECRET, TOKEN, alert, make_client

PAGES = [href for href, _ in NAVIGATION]
SAME_SITE = {"Origin": "http://testserver.local", "Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def anonymous(redis_url: str, sqlite_url: str) -> Iterator[TestClient[Any]]:
    with make_client(redis_url, sqlite_url) as client:
        yield client


@pytest.fixture
def client(anonymous: TestClient[Any]) -> TestClient[Any]:
    """Logged in through the form."""
    answer = post(anonymous, "/console/login", token=TOKEN, next="/console/signals")
    assert answer.status_code == 303, answer.text
    return anonymous


def post(client: TestClient[Any], path: str, **form: str) -> Any:
    """A form sent from the console's own pages (same origin), its redirect not followed."""
    return client.post(path, data=form, headers=SAME_SITE, follow_redirects=False)


def sentence(page: str) -> str:
    found = re.search(r'role="alert">([^<]*)<', page)
    assert found, page
    return html.unescape(found.group(1))


def send(client: TestClient[Any], **fields: Any) -> str:
    answer = client.post("/webhook", content=alert(**fields))
    assert answer.status_code == 202, answer.text
    signal_id: str = answer.json()["signal_id"]
    return signal_id


# --- who may open it


@pytest.mark.parametrize("page", PAGES)
def test_a_page_without_the_token_sends_the_browser_to_the_login_form(anonymous, page):
    answer = anonymous.get(f"/console/{page}?x=1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/login?next=%2Fconsole%2F{page}%3Fx%3D1"


def test_htmx_polling_without_the_cookie_asks_htmx_to_go_to_the_login_form(anonymous):
    answer = anonymous.get("/console/signals", headers={"HX-Request": "true"})
    assert answer.status_code == 401
    assert answer.headers["hx-redirect"].startswith("/console/login?next=")


def test_login_with_the_token_sets_an_http_only_strict_cookie_and_goes_on(anonymous):
    form = anonymous.get("/console/login?next=/console/orders")
    assert form.status_code == 200
    assert 'type="password"' in form.text
    assert 'value="/console/orders"' in form.text
    answer = post(anonymous, "/console/login", token=TOKEN, next="/console/orders")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/orders"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{CONSOLE_DOOR.cookie}=")
    assert TOKEN not in cookie
    for part in ("HttpOnly", "Path=/console", "SameSite=strict"):
        assert part in cookie
    assert anonymous.get("/console/orders").status_code == 200


def test_a_wrong_token_is_refused_with_a_sentence(anonymous):
    answer = anonymous.post(
        "/console/login", data={"token": "nope", "next": "/console/signals"}, headers=SAME_SITE
    )
    assert answer.status_code == 401
    assert sentence(answer.text) == "the token is wrong: type the value of API_TOKEN."
    assert "set-cookie" not in answer.headers


def test_login_goes_back_to_console_pages_only(anonymous):
    for target in ("https://evil.example/", "//evil.example/console/", "/rq/"):
        answer = post(anonymous, "/console/login", token=TOKEN, next=target)
        assert answer.headers["location"] == "/console/signals", target


def test_token_in_the_query_once_then_the_cookie(anonymous):
    first = anonymous.get(f"/console/orders?token={TOKEN}&open=true", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/console/orders?open=true"  # the token leaves the URL
    assert anonymous.get("/console/orders?open=true").status_code == 200
    anonymous.cookies.clear()
    wrong = anonymous.get("/console/orders?token=nope", follow_redirects=False)
    assert wrong.status_code == 401
    assert sentence(wrong.text) == "the token is wrong: use the value of API_TOKEN."


def test_the_bearer_token_opens_it_and_other_cookies_do_not(anonymous):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert anonymous.get("/console/signals", headers=bearer).status_code == 200
    # the dashboard's cookie is not the console's, nor is a forged one
    anonymous.get(f"/rq/?token={TOKEN}", follow_redirects=False)
    assert COOKIE in anonymous.cookies
    anonymous.cookies.set(CONSOLE_DOOR.cookie, "forged", domain="testserver.local")
    assert anonymous.get("/console/signals", follow_redirects=False).status_code == 303


def test_log_out_drops_the_cookie(client):
    answer = post(client, "/console/logout")
    assert answer.headers["location"] == "/console/login"
    assert client.get("/console/signals", follow_redirects=False).status_code == 303


def test_the_assets_need_no_token(anonymous):
    script = anonymous.get("/console/static/htmx.min.js")
    assert script.status_code == 200
    assert script.text.startswith("var htmx=")
    assert "text/css" in anonymous.get("/console/static/console.css").headers["content-type"]


def test_without_api_token_only_a_local_paper_service_opens_it(redis_url, sqlite_url):
    settings = Settings(redis_url=redis_url, database_url=sqlite_url, webhook_secret=SECRET)
    with TestClient(create_app(build_services(settings))) as remote:  # peer: "testclient"
        answer = remote.get("/console/signals")
    assert answer.status_code == 404
    assert sentence(answer.text) == (
        "the console is off while API_TOKEN is not set: set API_TOKEN, "
        "then open /console/?token=<API_TOKEN>."
    )


# --- the kill switch, and changes from other sites


def trading_state(client: TestClient[Any]) -> str:
    answer = client.get("/admin/state", headers={"Authorization": f"Bearer {TOKEN}"})
    state: str = answer.json()["trading_state"]
    return state


def test_the_kill_switch_halts_reduces_and_resumes_with_a_reason(client):
    page = client.get("/console/trading")
    assert page.status_code == 200
    assert "Trading is <strong" in page.text
    for state in ("halted", "reducing_only", "active"):
        answer = post(client, "/console/trading", state=state, reason="  drill   one ")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/trading"
        assert trading_state(client) == state
        assert f"trading: {state}" in client.get("/console/signals").text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "https://other.testserver.local"},
    ],
    ids=["origin", "fetch-site", "same-site"],
)
def test_changes_sent_by_other_sites_are_refused(client, headers):
    answer = client.post(
        "/console/trading", data={"state": "halted", "reason": "x"}, headers=headers
    )
    assert answer.status_code == 403
    assert sentence(answer.text) == "the console refuses changes sent by other sites."
    assert trading_state(client) == "active"
    login = client.post("/console/login", data={"token": TOKEN}, headers=headers)
    assert login.status_code == 403


def test_a_change_needs_a_session_and_a_reason(anonymous, client):
    answer = client.post("/console/trading", data={"state": "halted", "reason": " "})
    assert answer.status_code == 400
    assert sentence(answer.text) == "give a reason: it is kept with the change and told."
    wrong = client.post("/console/trading", data={"state": "off", "reason": "x"})
    assert wrong.status_code == 400
    client.cookies.clear()
    refused = client.post("/console/trading", data={"state": "halted", "reason": "x"})
    assert refused.status_code == 401
    assert trading_state(client) == "active"


# --- what the pages show


def test_signals_page_lists_filters_and_polls_its_rows(client):
    signal_id = send(client, id="console-1")
    eventually(lambda: signal_id in client.get("/console/signals").text)
    page = client.get("/console/signals")
    assert f'href="/console/signals/{signal_id}"' in page.text
    assert 'hx-get="/console/signals"' in page.text
    assert 'hx-trigger="every 3s"' in page.text
    assert '<script src="/console/static/htmx.min.js" defer>' in page.text
    filtered = client.get("/console/signals?status=denied&symbol=BTC/USDT")
    assert signal_id not in filtered.text
    assert 'hx-get="/console/signals?status=denied&amp;symbol=BTC/USDT"' in filtered.text
    rows = client.get("/console/signals?symbol=BTC/USDT", headers={"HX-Request": "true"})
    assert rows.text.startswith('<tbody id="signal-rows"')
    assert signal_id in rows.text
    assert "<html" not in rows.text


def test_lineage_page_shows_the_signal_its_steps_and_no_orders_yet(client):
    signal_id = send(client, id="console-2", qty="0.25")
    page = eventually(
        lambda: (
            (answer := client.get(f"/console/signals/{signal_id}")).status_code == 200 and answer
        )
    )
    assert f"<code>{signal_id}</code>" in page.text
    assert "buy BTC/USDT" in page.text
    assert "quantity 0.25" in page.text
    assert 'class="step step-queued">queued</strong>' in page.text
    assert "No order was placed for this signal." in page.text
    missing = client.get("/console/signals/no-such-id")
    assert missing.status_code == 404
    assert (
        sentence(missing.text) == "no signal with id 'no-such-id': pick one from the signals page."
    )


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_its_heading_navigation_and_no_outside_asset(client, page):
    answer = client.get(f"/console/{page}")
    assert answer.status_code == 200
    html = answer.text
    assert html.startswith("<!DOCTYPE html>")
    assert '<meta name="viewport"' in html
    assert f'<a href="/console/{page}" aria-current="page">' in html
    assert re.search(r"<h1>[^<]+</h1>", html)
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_venues_page_shows_each_venue_and_the_service_checks(client):
    page = client.get("/console/venues").text
    assert "<td>paper</td>" in page
    assert "redis</dt>" in page
    assert "database</dt>" in page
    assert "forwarder</dt>" in page


def test_pnl_page_says_when_nothing_closed(client):
    page = client.get("/console/pnl?days=7").text
    assert "No bracket closed in the last 7 days." in page
    assert client.get("/console/pnl?days=0").status_code == 400


# --- the API docs page, offline


def test_swagger_ui_comes_from_this_app_alone(anonymous):
    page = anonymous.get("/schema/swagger")
    assert page.status_code == 200
    references = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assert {"/static/swagger-ui/swagger-ui-bundle.js", "/static/swagger-ui/swagger-ui.css"} <= set(
        references
    )
    for reference in references:
        assert reference.startswith("/"), f"{reference} is not served by signalgate"
        assert not reference.startswith("//"), reference
        assert anonymous.get(reference).status_code == 200, reference
    assert "cdn" not in page.text.lower()
    assert anonymous.get("/schema").text == page.text
    assert anonymous.get("/schema/openapi.yaml").status_code == 200
