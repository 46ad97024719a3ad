"""Notifications end to end on real Redis, RQ and HTTP: events queued by `RqNotifier`, sent by the
notifier's RQ worker through apprise to local fakes of Telegram's Bot API, a Discord webhook
and a generic JSON webhook. The text, the retry after a 5xx, the rate limit, no secret in any
message or log line, and a trading process that never waits for (or fails on) a channel."""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
import redis
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from app.adapters.notify.deliveries import RedisWatched, outcomes
from app.adapters.notify.queue import RqNotifier, notifications_queue
from app.adapters.redis.forwarder_beat import FORWARDER_KEY
from app.adapters.redis.lease import HEARTBEAT_KEY, LEASE_KEY
from app.adapters.sql.db import make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.bootstrap.monitor import run_monitor
from app.bootstrap.notifier import notifier_runtime, run_notifier
from app.config.notify import NotifySettings
from app.config.settings import Settings
from app.domain.brackets.bracket import Bracket, BracketState, LegOrder
from app.domain.market import Market
from app.domain.notifications import (
    DailySummary,
    Event,
    ForwarderChanged,
    MonitorChanged,
    ProcessChange,
    Unprotected,
    event_key,
    next_summary,
    parse_routes,
)
from app.domain.notify_text import render
from app.domain.orders import Leg, OrderKind, OrderState, Side
from app.services.notifications import HeartbeatWatch
from tests.fake_channels import FakeChannel, serving
from tests.fakes_execution import RecordingNotifier
from tests.integration.test_metrics import add_signal
from tests.integration.test_web_ops import AUTH, scrape
from tests.integration.test_webhook_http import make_client
from tests.unit.test_notifications import CLOSED, EVENTS, TEST_MESSAGE

D = Decimal
TG_TOKEN = "123456789:AAH-tg-SECRET-token-xyz"
TG_CHAT = "-1001234567"
DISCORD_ID, DISCORD_TOKEN = "417429632418316298", "JHMHI8qBe7bk2ZwO5U711o3dV_js-SECRET"
JSON_PASSWORD, JSON_PATH = "json-SECRET-pw", "hooks/SECRET-path-0042"
SECRETS = (TG_TOKEN, DISCORD_ID, DISCORD_TOKEN, JSON_PASSWORD, JSON_PATH)
UNPROTECTED = Unprotected(
    "01JXUNPROTECTED00000000001", "paper", "BTC/USDT", "buy", D("0.01"), "sl refused", True
)


@dataclass
class Channels:
    telegram: FakeChannel
    discord: FakeChannel
    json: FakeChannel

    @property
    def urls(self) -> tuple[str, str, str]:
        return (
            f"tgram://{TG_TOKEN}/{TG_CHAT}",
            f"discord://{DISCORD_ID}/{DISCORD_TOKEN}",
            f"json://user:{JSON_PASSWORD}@{self.json.url.removeprefix('http://')}/{JSON_PATH}",
        )

    @property
    def endpoints(self) -> dict[str, str]:
        """apprise has no setting for Telegram's or Discord's API host: their plugins' own."""
        return {"tgram": f"{self.telegram.url}/bot", "discord": f"{self.discord.url}/api/webhooks"}

    def all(self) -> list[FakeChannel]:
        return [self.telegram, self.discord, self.json]


@pytest.fixture
def channels() -> Iterator[Channels]:
    with serving("telegram") as tg, serving("discord") as dc, serving("json") as js:
        yield Channels(tg, dc, js)


class Deployment:
    """The settings, a trading process's notifier, and the notifier process run in burst."""

    def __init__(self, channels: Channels, redis_url: str, database_url: str, **kw: Any) -> None:
        self.channels = channels
        events = kw.pop("events", "")
        self.settings = Settings(
            redis_url=redis_url,
            database_url=database_url,
            notify=NotifySettings(
                urls=channels.urls, routes=parse_routes(events, 3), **kw.pop("notify", {})
            ),
            **kw,
        )
        self.client = redis.Redis.from_url(redis_url)
        self.notifier = RqNotifier(self.client, self.settings.notify.routes, retry_intervals=(0,))

    def tell(self, *events: Event) -> None:
        for event in events:
            self.notifier.notify(event)
        assert self.notifier.flush()

    def send(self) -> None:
        """The notifier process, until its queue is empty (retries at once: interval 0)."""
        notifier_runtime(
            self.settings, endpoints=self.channels.endpoints, retry_intervals=(0,)
        )  # the runtime `run_notifier` uses
        assert run_notifier(self.settings, burst=True)

    def job(self, channel: int, event: Event) -> Job:
        return Job.fetch(
            f"notify-{channel}-{event_key(event)}", connection=self.client,
            serializer=JSONSerializer,
        )  # fmt: skip


@pytest.fixture
def deployment(channels: Channels, redis_url: str, sqlite_url: str) -> Iterator[Deployment]:
    built = Deployment(channels, redis_url, sqlite_url)
    yield built
    built.notifier.close()
    built.client.close()


def texts(channel: FakeChannel) -> list[str]:
    """What each request showed the user: Telegram's HTML unescaped, the others' JSON fields."""
    shown = []
    for request in channel.received:
        body = request.body
        if channel.service == "telegram":
            shown.append(html.unescape(body["text"]).replace("<b>", "").replace("</b>", ""))
        elif channel.service == "discord":
            shown.append(body["content"])
        else:
            shown.append(f"{body['title']}\r\n{body['message']}")
    return [text.replace("\r\n", "\n") for text in shown]


def test_a_test_message_reaches_its_channel_alone(deployment: Deployment) -> None:
    deployment.tell(TEST_MESSAGE)  # channel 1: Discord
    deployment.send()
    assert texts(deployment.channels.discord) == [
        "Test message from signalgate\n"
        "Channel 1 of NOTIFY_URLS reaches you: its notifications will arrive here.\n"
        "Asked for from the console at 2026-12-05 14:30:00 UTC."
    ]
    assert deployment.channels.telegram.received == []
    assert deployment.channels.json.received == []
    assert outcomes(deployment.client) == {"1,discord,sent": 1.0}


def test_every_channel_gets_the_message_text(deployment: Deployment) -> None:
    deployment.tell(CLOSED)
    deployment.send()

    expected = (
        "BTC/USDT long closed by stop-loss: -11.29 USDT\n"
        "In 0.01 at 65,000, out at 64,000 on paper\n"
        "Realized P&L -11.29 USDT after 1.29 USDT fees\n"
        "Bracket 01JX5Z3K8Q4W2N7R9T1V3B5C7D"
    )
    for channel in deployment.channels.all():
        assert texts(channel) == [expected], channel.service
    telegram = deployment.channels.telegram.received[0]
    assert telegram.path == f"/bot{TG_TOKEN}/sendMessage"
    assert str(telegram.body["chat_id"]) == TG_CHAT
    assert deployment.channels.json.received[0].body["type"] == "info"
    assert deployment.channels.discord.received[0].path == (
        f"/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}"
    )


def test_an_event_queued_twice_in_a_race_or_after_its_job_expired_goes_once(
    deployment: Deployment,
) -> None:
    deployment.tell(CLOSED)
    # two processes that told it at the same moment both found no job: its id queued twice
    notifications_queue(deployment.client).push_job_id(deployment.job(0, CLOSED).id)
    deployment.send()
    # told again once its finished job's record expired (kept a day)
    for index in range(3):
        deployment.job(index, CLOSED).delete()
    deployment.tell(CLOSED)
    deployment.send()
    for channel in deployment.channels.all():
        assert len(channel.received) == 1, channel.service
    assert outcomes(deployment.client)["0,telegram,duplicate"] == 2


def test_an_urgent_event_is_marked_as_a_failure(deployment: Deployment) -> None:
    deployment.tell(UNPROTECTED)
    deployment.send()
    [webhook] = deployment.channels.json.received
    assert webhook.body["type"] == "failure"
    assert webhook.body["title"] == "URGENT: BTC/USDT long UNPROTECTED on paper"
    [telegram] = texts(deployment.channels.telegram)
    assert telegram.startswith("URGENT: BTC/USDT long UNPROTECTED on paper\nsl refused")


@pytest.mark.parametrize(("index", "service"), [(0, "telegram"), (1, "discord"), (2, "json")])
def test_a_5xx_is_retried_and_the_message_goes_once(
    deployment: Deployment, index: int, service: str, redis_url: str, sqlite_url: str
) -> None:
    fake = deployment.channels.all()[index]
    fake.failures.append(502)
    deployment.tell(CLOSED)
    deployment.send()

    assert len(fake.received) == 2  # the refused one, then the retry
    assert texts(fake)[0] == texts(fake)[1]
    assert deployment.job(index, CLOSED).get_status() is JobStatus.FINISHED
    counted = outcomes(deployment.client)
    assert counted[f"{index},{service},retried"] == 1
    assert counted[f"{index},{service},sent"] == 1
    with make_client(redis_url, sqlite_url) as client:
        samples = scrape(client)["signalgate_notifications_total"]
    labels = (("channel", str(index)), ("outcome", "sent"), ("service", service))
    assert samples[labels] == 1


def test_a_channel_that_keeps_failing_is_given_up_counted_and_leaves_the_others(
    deployment: Deployment,
) -> None:
    deployment.channels.discord.failures.extend([503, 503])
    deployment.tell(CLOSED)
    deployment.send()

    assert len(deployment.channels.discord.received) == 2  # the first try and its one retry
    assert deployment.job(1, CLOSED).get_status() is JobStatus.FAILED
    assert deployment.job(0, CLOSED).get_status() is JobStatus.FINISHED
    counted = outcomes(deployment.client)
    assert (counted["1,discord,retried"], counted["1,discord,failed"]) == (1, 1)
    assert counted["0,telegram,sent"] == counted["2,json,sent"] == 1


def test_no_secret_in_any_message_or_log_line(
    channels: Channels, redis_url: str, sqlite_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    deployment = Deployment(channels, redis_url, sqlite_url, log_level="DEBUG")
    channels.telegram.failures.append(500)
    channels.json.failures.append(500)
    deployment.tell(*EVENTS)
    deployment.send()
    deployment.notifier.close()

    logs = capfd.readouterr()
    shown = logs.out + logs.err
    assert "notification closed-01JX5Z3K8Q4W2N7R9T1V3B5C7D sent to channel 0 (telegram)" in shown
    assert "POST /bot***/sendMessage" in shown  # urllib3 logs the request line at DEBUG
    for channel in channels.all():
        assert len(texts(channel)) == len(EVENTS) + (channel.service != "discord")
        for request, text in zip(channel.received, texts(channel), strict=True):
            assert not any(secret in text for secret in SECRETS), text
            body = str(request.body)
            assert not any(secret in body for secret in SECRETS), body
    for secret in SECRETS:
        assert secret not in shown, secret


def test_one_job_per_channel_and_event_however_often_it_is_told(deployment: Deployment) -> None:
    deployment.tell(CLOSED, CLOSED)
    deployment.tell(CLOSED)
    assert notifications_queue(deployment.client).count == 3  # one per channel
    deployment.send()
    assert [len(c.received) for c in deployment.channels.all()] == [1, 1, 1]


def test_notify_events_picks_the_channels_of_each_kind(
    channels: Channels, redis_url: str, sqlite_url: str
) -> None:
    deployment = Deployment(channels, redis_url, sqlite_url, events="0:urgent;1:closed;2:")
    deployment.tell(CLOSED, UNPROTECTED)
    deployment.send()
    assert [len(c.received) for c in channels.all()] == [1, 1, 0]
    assert texts(channels.telegram)[0].startswith("URGENT:")


def test_over_the_rate_limit_a_message_waits_for_its_turn_and_an_urgent_one_does_not(
    channels: Channels, redis_url: str, sqlite_url: str
) -> None:
    deployment = Deployment(
        channels, redis_url, sqlite_url, events="0:all;1:;2:", notify={"per_minute": 1}
    )
    later = msgspec.structs.replace(CLOSED, bracket_id="01JXLATER0000000000000001")
    deployment.tell(CLOSED, later, UNPROTECTED)
    deployment.send()

    [first, urgent] = texts(channels.telegram)
    assert first.startswith("BTC/USDT long closed by stop-loss")
    assert urgent.startswith("URGENT:")
    queue = notifications_queue(deployment.client)
    [waiting] = [i for i in queue.scheduled_job_registry.get_job_ids() if "summary" not in i]
    assert waiting.startswith(f"notify-0-{event_key(later)}-at-")
    when = queue.scheduled_job_registry.get_scheduled_time(waiting)
    assert 50 < (when - datetime.now(UTC)).total_seconds() <= 120
    assert outcomes(deployment.client)["0,telegram,deferred"] == 1

    job = queue.fetch_job(waiting)  # its turn, now: it takes no second slot
    assert job is not None
    queue.scheduled_job_registry.remove(job)
    queue.enqueue_job(job)
    deployment.send()
    assert texts(channels.telegram)[2].endswith("\nBracket 01JXLATER0000000000000001")
    assert outcomes(deployment.client)["0,telegram,sent"] == 3


def test_a_trading_process_never_waits_for_or_fails_on_an_unreachable_redis(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    notifier = RqNotifier(unreachable, parse_routes("", 1))
    started = time.perf_counter()
    for _ in range(50):
        notifier.notify(CLOSED)  # returns at once: the thread enqueues
    handed_over = time.perf_counter() - started
    notifier.close()
    print(f"50 events handed over in {handed_over * 1000:.2f} ms with Redis unreachable")
    assert "notification(s) not queued, Redis unreachable" in caplog.text


def test_a_full_hand_over_buffer_warns_once_per_spell_with_the_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreachable = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    notifier = RqNotifier(unreachable, parse_routes("", 1), capacity=2)
    notifier._start = lambda: None  # type: ignore[method-assign]  # no thread: the buffer fills
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            notifier.notify(CLOSED)
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1, [r.getMessage() for r in dropped]
    notifier._waiting.get_nowait()  # room again: the spell ends, its count is told
    with caplog.at_level(logging.WARNING):
        notifier.notify(CLOSED)
    assert "48 notification(s) were dropped" in caplog.text


def test_the_daily_summary_counts_the_day_and_schedules_the_next(
    channels: Channels, redis_url: str, sqlite_url: str
) -> None:
    deployment = Deployment(channels, redis_url, sqlite_url, events="0:summary;1:;2:")
    end = datetime.now(UTC).replace(microsecond=0)
    engine = make_engine(sqlite_url)
    for n in range(3):
        add_signal(engine, n, end - timedelta(hours=n + 1))
    add_signal(engine, 9, end - timedelta(hours=30))  # the day before: not counted
    store = SqlExecutionStore(engine)
    store.save_bracket(closed_bracket("01JXSUMMARYCLOSED000000001", end - timedelta(hours=2)), end)
    store.save_bracket(open_bracket("01JXSUMMARYOPEN00000000001", end), end)
    engine.dispose()

    runtime = notifier_runtime(deployment.settings, endpoints=channels.endpoints)
    key = runtime.summary(end)
    deployment.send()

    assert key == event_key(DailySummary(end - timedelta(days=1), end, {}, 0, {}, {}))
    [text] = texts(channels.telegram)
    assert text.splitlines()[1:] == [
        "Signals: 3 queued",
        "Closed brackets: 1, realized P&L +9 USDT (fees 1 USDT)",
        "- alerts without a strategy on default: 1 trade, 100% won, +9 USDT, max drawdown 0",
        "Open positions: 1",
        "- BTC/USDT long 0.01 at 65,000 on paper",
    ]
    scheduled = notifications_queue(deployment.client).scheduled_job_registry.get_job_ids()
    following = next_summary(end, deployment.settings.notify.summary_at)  # NOTIFY_SUMMARY_AT
    assert f"notify-summary-{following:%Y%m%dT%H%M}" in scheduled


MARKET = Market("BTC/USDT", "BTC", "USDT")


def closed_bracket(bracket_id: str, at: datetime) -> Bracket:
    entry = LegOrder(Leg.ENTRY, f"{bracket_id}en", Side.BUY, OrderKind.MARKET, D("0.01"),
                     state=OrderState.FILLED, filled=D("0.01"), average_price=D(65000),
                     fee=D("0.5"))  # fmt: skip
    out = LegOrder(Leg.TAKE_PROFIT, f"{bracket_id}tp", Side.SELL, OrderKind.MARKET, D("0.01"),
                   state=OrderState.FILLED, filled=D("0.01"), average_price=D(66000),
                   fee=D("0.5"))  # fmt: skip
    return Bracket(bracket_id, "default", "paper", "BTC/USDT", Side.BUY, MARKET, at,
                   state=BracketState.CLOSED, orders=(entry, out), closed_at=at,
                   realized_pnl=D(9))  # fmt: skip


def open_bracket(bracket_id: str, at: datetime) -> Bracket:
    entry = LegOrder(Leg.ENTRY, f"{bracket_id}en", Side.BUY, OrderKind.MARKET, D("0.01"),
                     state=OrderState.FILLED, filled=D("0.01"), average_price=D(65000))  # fmt: skip
    return Bracket(bracket_id, "default", "paper", "BTC/USDT", Side.BUY, MARKET, at,
                   state=BracketState.OPEN, orders=(entry,))  # fmt: skip


@pytest.mark.parametrize(
    ("process", "key", "event_type"),
    [("monitor", HEARTBEAT_KEY, MonitorChanged), ("forwarder", FORWARDER_KEY, ForwarderChanged)],
)
def test_a_process_silent_for_too_long_is_told_once_and_its_return_once(
    redis_url: str, process: str, key: str, event_type: type[MonitorChanged | ForwarderChanged]
) -> None:
    client = redis.Redis.from_url(redis_url)
    told = RecordingNotifier()
    now = [1_000_000.0]

    def watch_of() -> HeartbeatWatch:
        return HeartbeatWatch(process=process, watched=RedisWatched(client), notifier=told,
                              limit_seconds=30, clock=lambda: now[0])  # fmt: skip

    watch = watch_of()
    assert watch.check() is None  # it never ran: not flagged
    client.set(key, repr(now[0] - 10))
    assert watch.check() is None
    now[0] += 40
    assert watch.check() is ProcessChange.DOWN
    assert watch.check() is None  # told once
    assert watch_of().check() is None  # another notifier process: not told twice
    client.set(key, repr(now[0]))
    assert watch.check() is ProcessChange.BACK
    changes = [e for e in told.events if isinstance(e, event_type)]
    assert [e.change for e in changes] == [ProcessChange.DOWN, ProcessChange.BACK]
    assert render(changes[0]).title == f"{process.capitalize()} down"
    assert f"signalgate {'monitor' if process == 'monitor' else 'forward'}" in changes[0].detail
    client.close()


def test_the_kill_switch_from_the_api_is_told(
    channels: Channels, redis_url: str, sqlite_url: str
) -> None:
    deployment = Deployment(channels, redis_url, sqlite_url, events="0:trading;1:;2:")
    with make_client(redis_url, sqlite_url, notify=deployment.settings.notify) as client:
        halted = client.post("/admin/halt", json={"reason": "news at 14:30"}, headers=AUTH)
        assert halted.status_code == 200
    # the web process's notifier queued it by its shutdown at the latest
    deployment.send()
    assert texts(channels.telegram) == ["Trading halted\nReason: news at 14:30"]


@pytest.mark.anyio
async def test_a_monitor_tells_its_lease_lost_and_taken_back_but_not_a_plain_start(
    redis_url: str, sqlite_url: str
) -> None:
    settings = Settings(
        redis_url=redis_url,
        database_url=sqlite_url,
        monitor_interval_seconds=0.05,
        notify=NotifySettings(urls=("json://127.0.0.1:9/hook",), routes=parse_routes("", 1)),
    )
    client = redis.Redis.from_url(redis_url)
    queue = notifications_queue(client)

    async def told(change: str, count: int = 1) -> None:
        async with asyncio.timeout(30):
            while sum(f"-monitor-{change}-" in i for i in queue.job_ids) < count:  # noqa: ASYNC110 - polling Redis
                await asyncio.sleep(0.02)

    stop = asyncio.Event()
    task = asyncio.create_task(run_monitor(settings, stop))
    async with asyncio.timeout(30):
        while client.get(HEARTBEAT_KEY) is None:  # noqa: ASYNC110 - acting: a plain start, not told
            await asyncio.sleep(0.02)
    client.set(LEASE_KEY, "another-monitor", px=60_000)  # taken over meanwhile
    await told("lease_lost")
    client.delete(LEASE_KEY)  # the other monitor stopped
    await told("took_over")
    stop.set()
    await asyncio.wait_for(task, 30)
    assert sorted(i.split("-monitor-")[1].split("-")[0] for i in queue.job_ids) == [
        "lease_lost", "took_over"
    ]  # fmt: skip
    [job] = [Job.fetch(i, connection=client, serializer=JSONSerializer)
             for i in queue.job_ids if "took_over" in i]  # fmt: skip
    assert job.args[1]["detail"].startswith("monitor@")
    client.close()
