"""An account's own notification channels end to end on real Redis, RQ, SQLite and HTTP, against
the local fakes of Telegram's Bot API, a Discord webhook and a generic JSON webhook: each
account's channel hears its own account's events and not another's, NOTIFY_URLS' channel hears
them all; an account's halt is told; a failing account channel is counted like the others; and
the secrets of an account's URLs are in no log line, API answer, console page, database row or
Redis value."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
import redis
import sqlalchemy
from cryptography.fernet import Fernet
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from app.adapters.notify.deliveries import outcomes
from app.adapters.notify.queue import RqNotifier, notifications_queue
from app.adapters.secrets import FernetCipher
from app.adapters.sql.accounts import SqlAccountStore
from app.adapters.sql.db import make_engine
from app.bootstrap import logs as process_logs
from app.bootstrap.accounts import build_account_notifications, build_accounts
from app.bootstrap.connections import build_connections
from app.bootstrap.notifications import close_notifier, route_accounts
from app.bootstrap.notifier import notifier_runtime, run_notifier
from app.config.notify import NotifySettings
from app.config.settings import Settings
from app.domain.account_channels import AccountChannels, ChannelShown, InvalidChannels
from app.domain.accounts import Account
from app.domain.notifications import Drift, Event, parse_routes
from app.services.account_channels import AccountNotifications, AccountRouting, open_urls
from tests.fake_channels import FakeChannel, serving
from tests.integration.test_connections import raw_rows
from tests.integration.test_notifications import texts
from tests.integration.test_web_ops import scrape
from tests.integration.test_webhook_http import TOKEN, make_client
from tests.unit.test_notifications import CLOSED

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SAME_SITE = {"Origin": "http://testserver.local", "Sec-Fetch-Site": "same-origin"}
KEY = Fernet.generate_key().decode()
MAIN_TOKEN, MAIN_CHAT = "555000111:AAMain-account-SECRET-bot", "-100555000111"
FUND_ID, FUND_TOKEN = "918273645546372819", "FundB-webhook-SECRET-token_9x"
SECRETS = (MAIN_TOKEN, FUND_ID, FUND_TOKEN)
MAIN_URL = f"tgram://{MAIN_TOKEN}/{MAIN_CHAT}"
FUND_URL = f"discord://{FUND_ID}/{FUND_TOKEN}"
AT = datetime(2026, 12, 9, 10, 0, tzinfo=UTC)


def closed(account: str, bracket_id: str) -> Event:
    return msgspec.structs.replace(CLOSED, bracket_id=bracket_id, account=account)


MAIN_CLOSED = closed("main", "01JXMAIN00000000000000001")
FUND_CLOSED = closed("fund_b", "01JXFUNDB0000000000000001")


@dataclass
class World:
    """NOTIFY_URLS' channel (a JSON webhook), main's own (Telegram) and fund_b's (Discord)."""

    every: FakeChannel
    main: FakeChannel
    fund: FakeChannel
    settings: Settings
    engine: sqlalchemy.Engine

    @property
    def endpoints(self) -> dict[str, str]:
        return {"tgram": f"{self.main.url}/bot", "discord": f"{self.fund.url}/api/webhooks"}

    def channels(self) -> AccountNotifications:
        return build_account_notifications(
            self.settings, self.engine, build_accounts(self.settings, self.engine)
        )

    def tell(self, *events: Event) -> None:
        """A trading process's notifier, accounts' channels read through its engine (a failed
        send retried at once)."""
        client = redis.Redis.from_url(self.settings.redis_url or "")
        notifier = RqNotifier(client, self.settings.notify.routes, retry_intervals=(0,))
        route_accounts(notifier, self.settings, self.engine)
        for event in events:
            notifier.notify(event)
        close_notifier(notifier)
        client.close()

    def send(self) -> None:
        """The notifier process, until its queue is empty (retries at once)."""
        notifier_runtime(self.settings, endpoints=self.endpoints, retry_intervals=(0,))
        assert run_notifier(self.settings, burst=True)


def settings_of(redis_url: str, database: str, url: str, **kw: Any) -> Settings:
    notify = NotifySettings(urls=(url,), routes=parse_routes("", 1))
    return Settings(redis_url=redis_url, database_url=database, api_token=TOKEN,
                    secrets_keys=(KEY,), notify=notify, **kw)  # fmt: skip


@pytest.fixture
def world(redis_url: str, sqlite_url: str) -> Iterator[World]:
    with serving("json") as every, serving("telegram") as main, serving("discord") as fund:
        url = f"json://{every.url.removeprefix('http://')}/everything"
        settings = settings_of(redis_url, sqlite_url, url)
        engine = make_engine(sqlite_url)
        accounts = build_accounts(settings, engine)
        for name in ("main", "fund_b", "quiet"):
            accounts.add(Account(name=name))
        yield World(every, main, fund, settings, engine)
        engine.dispose()


def with_channels(world: World) -> None:
    channels = world.channels()
    channels.set("main", [MAIN_URL])
    channels.set("fund_b", [FUND_URL], "0:all,-denied")


def test_an_accounts_channel_hears_its_events_and_not_anothers_and_notify_urls_hears_all(
    world: World,
) -> None:
    with_channels(world)
    drift = Drift("paper", "paper holds 0.02 BTC, the book 0.01", "flag", AT, ("main",))
    world.tell(MAIN_CLOSED, FUND_CLOSED, drift, closed("quiet", "01JXQUIET0000000000000001"))
    world.send()

    [main_closed, main_drift] = texts(world.main)
    assert main_closed.endswith("Bracket 01JXMAIN00000000000000001\nAccount main")
    assert main_drift.startswith("URGENT: Drift on paper")
    [fund_closed] = texts(world.fund)
    assert fund_closed.endswith("Bracket 01JXFUNDB0000000000000001\nAccount fund_b")
    assert len(texts(world.every)) == 4  # NOTIFY_URLS' channel: every account's, and quiet's
    assert world.main.received[0].path == f"/bot{MAIN_TOKEN}/sendMessage"
    counted = outcomes(redis.Redis.from_url(world.settings.redis_url))
    assert counted == {"0,json,sent": 4, "main-0,telegram,sent": 2, "fund_b-0,discord,sent": 1}


def test_an_account_halted_over_the_api_is_told_with_its_name_and_reason(
    world: World, redis_url: str, sqlite_url: str
) -> None:
    with_channels(world)
    with make_client(redis_url, sqlite_url, secrets_keys=(KEY,),
                     notify=world.settings.notify) as client:  # fmt: skip
        halted = client.patch("/accounts/main", headers=AUTH,
                              json={"trading_state": "halted", "reason": "audit"})  # fmt: skip
        assert halted.status_code == 200, halted.text
    world.send()  # the web process queued it by its shutdown at the latest

    assert texts(world.main) == ["Account main halted\nReason: audit"]
    assert texts(world.every) == ["Account main halted\nReason: audit"]
    assert world.fund.received == []


def test_a_failing_account_channel_is_counted_and_leaves_the_others(
    world: World, redis_url: str, sqlite_url: str
) -> None:
    with_channels(world)
    world.main.failures.extend([503, 503])
    world.tell(MAIN_CLOSED)
    world.send()

    assert len(world.main.received) == 2  # the first try and its one retry
    assert len(world.every.received) == 1
    client = redis.Redis.from_url(redis_url)
    failed, sent = (
        Job.fetch(f"notify-{channel}-closed-01JXMAIN00000000000000001", connection=client,
                  serializer=JSONSerializer)
        for channel in ("main-0", "0")
    )  # fmt: skip
    assert (failed.get_status(), sent.get_status()) == (JobStatus.FAILED, JobStatus.FINISHED)
    counted = outcomes(client)
    assert (counted["main-0,telegram,retried"], counted["main-0,telegram,failed"]) == (1, 1)
    with make_client(redis_url, sqlite_url) as web:
        samples = scrape(web)["signalgate_notifications_total"]
    labels = (("channel", "main-0"), ("outcome", "failed"), ("service", "telegram"))
    assert samples[labels] == 1


def test_the_secrets_of_an_accounts_urls_are_in_no_log_answer_page_row_or_redis_value(
    world: World,
    redis_url: str,
    sqlite_url: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said = []
    with make_client(redis_url, sqlite_url, secrets_keys=(KEY,), log_level="DEBUG",
                     notify=world.settings.notify) as client:  # fmt: skip
        for name, urls in (("main", [MAIN_URL]), ("fund_b", [FUND_URL, "nosuch://abc"])):
            answer = client.patch(f"/accounts/{name}", headers=AUTH, json={"notify_urls": urls})
            said.append(answer.text)
        assert answer.status_code == 422  # nosuch://: a URL apprise cannot send to, by position
        assert answer.json()["reason"] == (
            "account fund_b's notify_urls: URL 1 (counted from 0, scheme 'nosuch') is not one"
            " apprise can send to: see https://appriseit.com/services/ for each service's URL"
        )
        given = {"notify_urls": [FUND_URL], "notify_events": "0:urgent"}
        answer = client.patch("/accounts/fund_b", headers=AUTH, json=given)
        assert answer.json()["notify"] == {
            "channels": [{"service": "discord", "shown": "discord://***"}], "events": "0:urgent"
        }  # fmt: skip
        said += [answer.text, client.get("/accounts", headers=AUTH).text]
        said.append(client.get("/accounts/main", headers=AUTH).text)
        login = {"token": TOKEN, "next": "/console/accounts"}
        logged = client.post("/console/login", data=login, headers=SAME_SITE,
                             follow_redirects=False)  # fmt: skip
        assert logged.status_code == 303
        page = html.unescape(client.get("/console/accounts").text)
        assert "0 telegram</span> <code>tgram://***</code>; events: all" in page
        said.append(page)
        halted = client.patch("/accounts/main", headers=AUTH, json={"trading_state": "halted"})
        said.append(halted.text)
    # the notifier is a process of its own: it learns the URLs' secrets as it opens them
    monkeypatch.setattr(process_logs, "_LEARNT", set())
    world.settings = replace(world.settings, log_level="DEBUG")
    world.tell(MAIN_CLOSED, FUND_CLOSED, Drift("paper", "drift", "flag", AT, ("fund_b",)))
    world.send()
    assert len(texts(world.main)) == 2  # its halt and its close
    assert texts(world.fund)[0].startswith("URGENT: Drift on paper")  # 0:urgent

    logs = capfd.readouterr()
    said += [logs.out, logs.err, raw_rows(world.engine)]
    client_redis = redis.Redis.from_url(redis_url)
    said += [repr(client_redis.dump(key)) for key in client_redis.scan_iter()]
    said += [text for channel in (world.every, world.main, world.fund) for text in texts(channel)]
    assert "sent to channel 0 of account main (telegram)" in logs.err
    assert "POST /bot***/sendMessage" in logs.err  # urllib3 logs the request line at DEBUG
    for text in said:
        for secret in SECRETS:
            assert secret not in text, secret
    token = SqlAccountStore(world.engine).sealed_channels("main")
    assert token is not None
    assert open_urls(FernetCipher([KEY]), token, "main") == (MAIN_URL,)


def test_an_account_needs_secrets_key_for_channels_of_its_own(
    world: World, redis_url: str, sqlite_url: str
) -> None:
    with make_client(redis_url, sqlite_url) as client:  # SECRETS_KEY unset
        refused = client.patch("/accounts/main", headers=AUTH, json={"notify_urls": [MAIN_URL]})
        assert (refused.status_code, refused.json()["reason"]) == (403,
            "SECRETS_KEY is not set, so an account's notification URLs cannot be stored"
            " encrypted: set it to a key made by `signalgate connections genkey` (or python -c"
            ' "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())").'
        )  # fmt: skip
        assert client.get("/accounts/main", headers=AUTH).json()["notify"] is None
    assert MAIN_TOKEN not in raw_rows(world.engine)


def test_an_accounts_events_changed_its_channels_cleared_and_rekeyed(world: World) -> None:
    with_channels(world)
    channels = world.channels()
    chosen = channels.set_events("main", "0:trading,urgent").notify
    assert chosen is not None
    assert chosen.events == "0:trading,urgent"
    assert channels.clear("fund_b").notify is None
    with pytest.raises(InvalidChannels, match=r"^account fund_b has no notification channel"):
        channels.set_events("fund_b", "0:all")
    with pytest.raises(InvalidChannels, match="there is no channel 1: the account has 1"):
        channels.set_events("main", "1:all")
    before = SqlAccountStore(world.engine).sealed_channels("main")
    new = Fernet.generate_key().decode()
    switching = replace(world.settings, secrets_keys=(new, KEY))  # SECRETS_KEY=new,old
    assert build_connections(switching, world.engine).rekey() == 1  # main's URLs, no connection
    after = SqlAccountStore(world.engine).sealed_channels("main")
    assert after is not None
    assert after != before
    world.settings = replace(world.settings, secrets_keys=(new,))  # the old key gone

    world.tell(MAIN_CLOSED, FUND_CLOSED, Drift("paper", "drift", "flag", AT, ("main",)))
    world.send()
    assert [t.splitlines()[0] for t in texts(world.main)] == ["URGENT: Drift on paper"]
    assert world.fund.received == []
    assert len(world.every.received) == 3


def test_a_trading_process_never_reads_accounts_channels_on_its_own_path(redis_url: str) -> None:
    """The read of accounts' channels (the database) is the notifications thread's: an event is
    handed over while that read hangs, and the caller's thread never makes it."""
    readers: list[threading.Thread] = []
    gate = threading.Event()

    def read() -> dict[str, AccountChannels]:
        readers.append(threading.current_thread())
        gate.wait(30)  # a guard, not a measure: the test sets it
        return {"main": AccountChannels((ChannelShown("telegram", "tgram://***"),))}

    client = redis.Redis.from_url(redis_url)
    notifier = RqNotifier(client, parse_routes("", 1), account_routes=AccountRouting(read))
    for event in (MAIN_CLOSED, FUND_CLOSED):
        notifier.notify(event)  # returns while the read hangs
    assert threading.current_thread() not in readers
    gate.set()
    close_notifier(notifier)
    assert readers  # the thread read them
    queued = sorted(notifications_queue(client).job_ids)
    assert queued == [
        "notify-0-closed-01JXFUNDB0000000000000001",
        "notify-0-closed-01JXMAIN00000000000000001",
        "notify-main-0-closed-01JXMAIN00000000000000001",
    ]
    client.close()
