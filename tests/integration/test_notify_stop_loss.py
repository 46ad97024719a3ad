"""A stop-loss fill on the paper venue sends one notification to the fake Telegram: an HTTP alert,
the forwarder, a real worker process (its executor hands its events to the notifications queue),
the bracket monitor on the paper venue, then the notifier's RQ worker through apprise."""

from __future__ import annotations

import asyncio
import dataclasses
import html
import json
from collections.abc import Iterator

import pytest
from litestar.testing import AsyncTestClient

from app.bootstrap.notifications import build_notifier, close_notifier
from app.bootstrap.notifier import notifier_runtime, run_notifier
from app.bootstrap.web import build_services
from app.config.notify import NotifySettings
from app.domain.notifications import parse_routes
from app.domain.notify_text import signed
from app.entrypoints.web.app import create_app
from tests.fake_channels import FakeChannel, serving
from tests.integration.test_execution_paper import ALERT, Deployment, deployment
from tests.paper_helpers import book

pytestmark = pytest.mark.anyio
TOKEN = "987654321:AAF-stop-loss-SECRET"
CHAT = "424242"
__all__ = ["deployment"]  # the paper deployment of test_execution_paper, on SQLite and PostgreSQL


@pytest.fixture
def telegram() -> Iterator[FakeChannel]:
    with serving("telegram") as fake:
        yield fake


async def test_a_stop_loss_fill_sends_one_notification_to_telegram(
    deployment: Deployment, telegram: FakeChannel
) -> None:
    url, events = f"tgram://{TOKEN}/{CHAT}", "0:closed,urgent"
    notify = NotifySettings(urls=(url,), routes=parse_routes(events, 1))
    settings = dataclasses.replace(deployment.settings, notify=notify)
    deployment.env.update(NOTIFY_URLS=url, NOTIFY_EVENTS=events)
    app = create_app(build_services(settings))
    async with AsyncTestClient(app) as http:
        answer = await http.post("/webhook", content=json.dumps(ALERT))
        signal_id = answer.json()["signal_id"]
        await deployment.queued(1)
        worker = await deployment.worker("--burst")
        assert await asyncio.wait_for(worker.wait(), 60) == 0
    bracket = deployment.store.bracket(signal_id)
    assert bracket is not None
    assert bracket.state == "open"

    notifier = build_notifier(settings)  # as the monitor process builds it
    monitor = deployment.monitor()
    monitor.driver.notifier = notifier
    deployment.books["BTC/USDT"] = book("63900x1", "63910x1")  # under the stop at 64,000
    assert await monitor.run_once() == 1
    assert await monitor.run_once() == 0
    close_notifier(notifier)
    closed = deployment.store.bracket(signal_id)
    assert closed is not None
    assert closed.state == "closed"

    notifier_runtime(settings, endpoints={"tgram": f"{telegram.url}/bot"})
    assert run_notifier(settings, burst=True)

    [sent] = telegram.received
    assert sent.path == f"/bot{TOKEN}/sendMessage"
    assert str(sent.body["chat_id"]) == CHAT
    text = html.unescape(sent.body["text"])
    pnl = signed(closed.realized_pnl)
    assert text.startswith(f"<b>BTC/USDT long closed by stop-loss: {pnl} USDT</b>")
    assert "In 0.01 at 65,000, out at 63,900 on paper" in text
    assert f"Bracket {signal_id}" in text
