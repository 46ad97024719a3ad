"""Browser tests: the Procfile's `web` and `worker` processes, driven through Debian's headless
Chromium with selenium. The set-up installs `chromium` and `chromium-driver` with apt-get when
they are missing (as root), and skips, saying why, where it cannot. One browser and one service
per module: starting them is most of the time these tests take."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from app.adapters.redis.server import free_port
from app.adapters.redis.ticks import TICKS_CHANNEL
from tests.e2e.conftest import SECRET, TOKEN, wait_until_up
from tests.fake_channels import FakeChannel, serving
from tests.integration.conftest import redis_server_url  # noqa: F401 - fixture

PACKAGES = ("chromium", "chromium-driver")
# three channels: Telegram and Discord hear only what these tests never make (urgent events, the
# summary), the JSON webhook (a local fake) everything; none of these values may show on a page
TELEGRAM = "tgram://123456789:AAH-browser-SECRET-token/-1001234567"
DISCORD = "discord://417429632418316298/browser-SECRET-webhook-token"
JSON_PATH = "hooks/browser-SECRET-path"
DESKTOP = (1280, 900)
PHONE = (390, 844)  # a common phone's CSS pixels


def _missing() -> list[str]:
    return [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]


def install_chromium() -> tuple[str, str]:
    """Chromium and its driver: found, else installed with apt-get, else the test is skipped."""
    if _missing():
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            pytest.skip(
                "browser tests need Chromium: run `apt-get install -y chromium chromium-driver`"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *PACKAGES]):
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                pytest.skip(
                    f"browser tests need Chromium, and `{' '.join(command)}` failed: "
                    f"{done.stderr.strip()[-300:]}"
                )
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.fail(f"still missing after apt-get: {_missing()}")
    return chromium, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, one per module (the driver path is given: selenium downloads nothing)."""
    chromium, driver = install_chromium()
    from selenium import webdriver  # noqa: PLC0415 - after the install
    from selenium.webdriver.chrome.service import Service as DriverService  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--hide-scrollbars", "--lang=en-US"):  # fmt: skip
        options.add_argument(argument)
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    chrome = webdriver.Chrome(options=options, service=DriverService(executable_path=driver))
    chrome.set_page_load_timeout(30)
    try:
        yield chrome
    finally:
        chrome.quit()


class Site:
    """The running service: its address, alerts sent to its webhook, and what its notification
    channel (a JSON webhook) received."""

    def __init__(self, base: str, channel: FakeChannel, notify_urls: str) -> None:
        self.base = base
        self.channel = channel
        self.notify_urls = notify_urls

    def url(self, path: str) -> str:
        return self.base + path

    def send(self, **fields: str) -> str:
        alert = {"symbol": "BTCUSDT", "action": "buy", "qty": "0.001", "secret": SECRET, **fields}
        answer = httpx.post(self.url("/webhook"), json=alert, timeout=5)
        assert answer.status_code == 202, answer.text
        signal_id: str = answer.json()["signal_id"]
        return signal_id


@pytest.fixture(scope="module")
def channel() -> Iterator[FakeChannel]:
    """A JSON webhook the notifier sends to."""
    with serving("json") as fake:
        yield fake


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server_url: str,  # noqa: F811 - the fixture of the same name
    channel: FakeChannel,
) -> Iterator[Site]:
    """`signalgate serve` (with its forwarder), a worker, the monitor and the notifier, on paper
    venues."""
    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    folder = tmp_path_factory.mktemp("service")
    port = free_port()
    hook = f"json://{channel.url.removeprefix('http://')}/{JSON_PATH}"
    notify_urls = f"{TELEGRAM},{DISCORD},{hook}"
    env = {
        **os.environ,
        "PORT": str(port),
        "REDIS_URL": redis_server_url,
        "DATABASE_URL": f"sqlite:///{folder / 'browser.db'}",
        "WEBHOOK_SECRET": SECRET,
        "API_TOKEN": TOKEN,
        "LOG_LEVEL": "WARNING",
        "NOTIFY_URLS": notify_urls,
        "NOTIFY_EVENTS": "0:urgent,summary;1:urgent",
        "NOTIFY_SUMMARY_AT": "21:30",
    }
    command = [sys.executable, "-m", "app.entrypoints.cli"]
    subprocess.run([*command, "migrate"], env=env, check=True, capture_output=True, timeout=120)
    started: list[subprocess.Popen[bytes]] = []
    try:
        for args, log in (
            (["serve", "--host", "127.0.0.1"], "web.log"),
            (["worker"], "worker.log"),
            (["monitor"], "monitor.log"),  # it publishes the paper venues' prices
            (["notifier"], "notifier.log"),
        ):
            with (folder / log).open("wb") as output:
                started.append(
                    subprocess.Popen([*command, *args], env=env, stdout=output, stderr=output)
                )
        wait_until_up(f"http://127.0.0.1:{port}", started[0])
        prices_published(client, started)
        yield Site(f"http://127.0.0.1:{port}", channel, notify_urls)
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(30)
        client.flushdb()
        client.close()


def prices_published(client: redis.Redis, started: list[subprocess.Popen[bytes]]) -> None:
    """Until the monitor publishes the paper venues' prices: before, entries are denied."""
    ticks = client.pubsub(ignore_subscribe_messages=True)
    ticks.subscribe(TICKS_CHANNEL)
    try:
        deadline = time.monotonic() + 30
        while ticks.get_message(timeout=0.2) is None:
            assert all(p.poll() is None for p in started), "a process exited"
            assert time.monotonic() < deadline, "the monitor published no price within 30 s"
    finally:
        ticks.close()


def shoot(browser: Any, folder: Path, name: str) -> Path:
    """A screenshot of the whole page, its top to its footer, under the test's folder: the window
    is made as tall as the page plus the browser's own frame (its outer height minus the
    viewport's), and no taller, so that a short page leaves no blank below it."""
    size = browser.get_window_size()
    browser.execute_script("window.scrollTo(0, 0)")  # from its top, even after a #fragment
    frame, page = browser.execute_script(
        "return [window.outerHeight - window.innerHeight,"
        " Math.ceil(document.body.getBoundingClientRect().height)]"
    )
    browser.set_window_size(size["width"], int(frame) + int(page))
    path = folder / f"{name}.png"
    browser.save_screenshot(str(path))
    browser.set_window_size(size["width"], size["height"])
    return path
