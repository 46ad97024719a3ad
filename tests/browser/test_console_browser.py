"""The console in a real browser (headless Chromium): log in with the token, watch an alert sent
to the webhook appear and execute on the signals page without reloading it, open its lineage,
halt trading from the button and see the next alert denied; put one account on reduce-only from
its button; read the notification settings (no secret of a channel's URL on the page) and send a
test message that reaches the channel. Every page is photographed under the test's folder, at a
desktop's width and a phone's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as until
from selenium.webdriver.support.wait import WebDriverWait

from app.entrypoints.web.console.pages import NAVIGATION
from tests.browser.conftest import DESKTOP, PHONE, Site, shoot
from tests.e2e.conftest import TOKEN

pytestmark = pytest.mark.browser
PAGES = [href for href, _ in NAVIGATION]


def wait(browser: Any, seconds: float = 30) -> WebDriverWait[Any]:
    return WebDriverWait(browser, seconds, poll_frequency=0.2)


def status_of(browser: Any, signal_id: str) -> str:
    """The status shown in the signal's row, "" while the row is not there."""
    rows = browser.find_elements(By.XPATH, f"//tr[td/a[text()='{signal_id}']]/td[2]")
    return str(rows[0].text) if rows else ""


def press(browser: Any, state: str, reason: str) -> None:
    """A kill switch's button, its reason typed; until the page shows the new state."""
    browser.find_element(By.LINK_TEXT, "Kill switch").click()
    browser.find_element(By.ID, f"reason-{state}").send_keys(reason)
    browser.find_element(By.XPATH, f"//form[input[@value='{state}']]//button").click()
    wait(browser).until(
        until.text_to_be_present_in_element((By.CSS_SELECTOR, "main .state"), state)
    )


def log_in(browser: Any, site: Site, folder: Path) -> None:
    browser.get(site.url("/console/signals"))
    wait(browser).until(until.url_contains("/console/login"))
    shoot(browser, folder, "login")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(browser).until(until.url_to_be(site.url("/console/signals")))


def test_an_alert_executes_on_the_page_and_the_halt_button_denies_the_next(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    log_in(browser, site, tmp_path)
    assert browser.get_cookie("signalgate_console")["httpOnly"] is True
    assert browser.execute_script("return document.cookie") == ""  # no script can read it

    first = site.send()
    # the page is not reloaded: htmx's polling brings the row, then its status
    wait(browser).until(lambda b: status_of(b, first) == "executed", f"{first} did not execute")
    assert browser.execute_script("return performance.getEntriesByType('navigation').length") == 1
    shoot(browser, tmp_path, "signals")

    browser.find_element(By.LINK_TEXT, first).click()
    wait(browser).until(until.url_contains(f"/console/signals/{first}"))
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Signal {first}"
    steps = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".steps .step")]
    assert steps[0] == "queued"
    assert {"sizing", "route", "decision", "order"} <= set(steps)
    assert browser.find_elements(By.CSS_SELECTOR, "table tbody tr"), "its orders are listed"
    shoot(browser, tmp_path, "lineage")

    browser.find_element(By.LINK_TEXT, "Positions").click()
    assert "long 0.001 BTC/USDT" in browser.find_element(By.TAG_NAME, "main").text
    shoot(browser, tmp_path, "positions")
    site.send(action="close")  # closed: its realized P&L is charted

    def charted(b: Any) -> bool:
        b.get(site.url("/console/pnl"))
        return bool(b.find_elements(By.CSS_SELECTOR, "svg.chart polyline"))

    wait(browser).until(charted, "the closed bracket was not charted")
    assert "USDT" in browser.find_element(By.TAG_NAME, "figcaption").text
    shoot(browser, tmp_path, "pnl")

    press(browser, "halted", "browser drill")
    assert browser.find_element(By.CSS_SELECTOR, "header .state").text == "trading: halted"
    shoot(browser, tmp_path, "trading")

    browser.find_element(By.LINK_TEXT, "Signals").click()
    second = site.send(symbol="ETHUSDT")  # an entry nothing else would deny
    wait(browser).until(lambda b: status_of(b, second) == "denied", f"{second} was not denied")
    browser.find_element(By.LINK_TEXT, second).click()
    wait(browser).until(until.url_contains(second))
    assert "halted" in browser.find_element(By.CSS_SELECTOR, ".steps").text
    shoot(browser, tmp_path, "denied")

    press(browser, "active", "drill over")


def add_accounts(site: Site) -> None:
    """Two accounts subscribed to a strategy, through the API (a strategy these tests' alerts,
    sent to /webhook, do not name)."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for body in (
        {"name": "main", "connections": ["paper"], "limits": {"max_open_positions": 3,
         "max_daily_loss": "250"}, "size": {"qty_mode": "quote", "quantity": "200"}},
        {"name": "fund_b", "multiplier": "0.5", "limits": {"max_order_notional": "400"}},
    ):  # fmt: skip
        answer = httpx.post(site.url("/accounts"), json=body, headers=auth, timeout=5)
        assert answer.status_code == 201, answer.text
    for account, enabled in (("main", True), ("fund_b", True), ("fund_b", False)):
        body = {"strategy": "trend" if enabled or account == "main" else "breakout",
                "account": account, "enabled": enabled}  # fmt: skip
        answer = httpx.post(site.url("/subscriptions"), json=body, headers=auth, timeout=5)
        assert answer.status_code == 200, answer.text


def test_an_account_reduces_from_its_button_and_a_test_message_reaches_its_channel(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    add_accounts(site)
    browser.get(site.url("/console/accounts"))
    if "/console/login" in browser.current_url:
        log_in(browser, site, tmp_path)
        browser.find_element(By.LINK_TEXT, "Accounts").click()
    fund = browser.find_element(By.ID, "account-fund_b")
    assert "every configured venue" in fund.text
    fund.find_element(By.ID, "reason-fund_b").send_keys("weekly review")
    fund.find_element(By.XPATH, ".//button[@value='reducing_only']").click()
    wait(browser).until(
        until.text_to_be_present_in_element(
            (By.CSS_SELECTOR, "#account-fund_b h2 .state"), "reducing_only"
        )
    )
    assert "weekly review (console)" in browser.find_element(By.ID, "account-fund_b").text
    assert "active" in browser.find_element(By.CSS_SELECTOR, "#account-main h2 .state").text
    shoot(browser, tmp_path, "accounts")

    browser.find_element(By.LINK_TEXT, "Notifications").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    services = [row.find_elements(By.TAG_NAME, "td")[1].text for row in rows]
    assert services == ["telegram", "discord", "json"]
    for secret in ("SECRET", "123456789", "417429632418316298", "1001234567"):
        assert secret not in browser.page_source
    browser.find_element(By.XPATH, "//tr[@id='channel-2']//button").click()
    wait(browser).until(until.url_contains("tested=2"))
    assert "A test message to channel 2 is queued" in browser.find_element(By.TAG_NAME, "main").text

    def arrived(_: Any) -> bool:
        return any(
            r.body.get("title") == "Test message from signalgate" for r in site.channel.received
        )

    wait(browser).until(arrived, "the test message did not reach the channel")

    def counted(b: Any) -> bool:  # the notifier counts the send after it
        b.get(site.url("/console/notifications"))
        sent = b.find_elements(By.XPATH, "//tr[@id='channel-2']/td[4]")
        return bool(sent) and int(sent[0].text) >= 1

    wait(browser).until(counted, "the test message's send was not counted")
    shoot(browser, tmp_path, "notifications")


@pytest.mark.parametrize(("width", "height"), [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_page_fits_the_screen_and_shows_its_content(
    browser: Any, site: Site, tmp_path: Path, width: int, height: int
) -> None:
    if browser.get_cookie("signalgate_console") is None:
        log_in(browser, site, tmp_path)
    browser.set_window_size(width, height)
    try:
        for page in PAGES:
            browser.get(site.url(f"/console/{page}"))
            assert browser.find_element(By.TAG_NAME, "h1").text
            # nothing wider than the screen: wide tables scroll inside their own box
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{page} is {overflow} px wider than a {width} px screen"
            shoot(browser, tmp_path, page)
    finally:
        browser.set_window_size(*DESKTOP)


def test_the_api_docs_page_renders_with_no_internet(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    browser.get(site.url("/schema/swagger"))
    wait(browser).until(until.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    assert "signalgate" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert loaded
    assert all(name.startswith(site.base) for name in loaded), loaded
    shoot(browser, tmp_path, "swagger")
