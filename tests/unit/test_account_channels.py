"""An account's own notification channels without I/O: which events belong to an account, their
text, an account's trading state told, the channels sealed and checked as they are set, and the
cached routes a trading process reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

import msgspec
import pytest
from cryptography.fernet import Fernet

from app.adapters.secrets import FernetCipher
from app.domain.account_channels import AccountChannels, ChannelShown, InvalidChannels
from app.domain.accounts import Account
from app.domain.notifications import (
    EventKind,
    MonitorChanged,
    ProcessChange,
    TradingChanged,
    accounts_of,
    channel_label,
    event_key,
    parse_routes,
)
from app.domain.notify_text import render
from app.domain.risk_values import TradingState
from app.ports.errors import SecretsUnreadable
from app.services.account_channels import AccountNotifications, AccountRouting, open_urls
from app.services.accounts import Accounts, UnknownAccount
from app.services.connections import KeysLocked
from tests.fakes_execution import RecordingNotifier
from tests.unit.test_accounts import HangingStore
from tests.unit.test_notifications import CLOSED, EVENTS

AT = datetime(2026, 12, 9, 10, 0, tzinfo=UTC)
URL = "tgram://123456789:AAunit-SECRET-token/-1001"


class MemoryStore(HangingStore):
    """Accounts with their trading state and own channels, in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[str, tuple[TradingState, str]] = {}
        self.sealed: dict[str, str] = {}
        self.shown: dict[str, AccountChannels] = {}

    def account(self, name: str) -> Account | None:
        found = next((a for a in self.kept if a.name == name), None)
        if found is None:
            return None
        state, reason = self.states.get(name, (TradingState.ACTIVE, None))
        return msgspec.structs.replace(found, trading_state=state, state_reason=reason,
                                       notify=self.shown.get(name))  # fmt: skip

    def set_account_state(self, name: str, state: TradingState, at: datetime, reason: str) -> None:
        self.states[name] = (state, reason)

    def set_channels(
        self, name: str, sealed: str | None, shown: AccountChannels | None, at: datetime
    ) -> bool:
        if sealed is None or shown is None:
            self.sealed.pop(name, None)
            self.shown.pop(name, None)
        else:
            self.sealed[name], self.shown[name] = sealed, shown
        return True

    def set_channel_events(self, name: str, shown: AccountChannels, at: datetime) -> bool:
        self.shown[name] = shown
        return name in self.sealed

    def sealed_channels(self, name: str) -> str | None:
        return self.sealed.get(name)

    def channels_shown(self) -> Mapping[str, AccountChannels]:
        return dict(self.shown)

    def every_sealed_channels(self) -> Sequence[tuple[str, str]]:
        return sorted(self.sealed.items())

    def reseal_channels(self, name: str, old: str, new: str) -> bool:
        self.sealed[name] = new
        return True


def accounts_over(store: MemoryStore, notifier: RecordingNotifier | None = None) -> Accounts:
    return Accounts(store, clock=lambda: AT, connections=lambda: [], notifier=notifier)


def described(urls: Sequence[str], source: str) -> tuple[ChannelShown, ...]:
    for index, url in enumerate(urls):
        if url.startswith("nosuch://"):
            raise ValueError(f"{source}: URL {index} (counted from 0) is not one apprise knows")
    return tuple(ChannelShown(url.partition("://")[0], f"{url.partition('://')[0]}://***")
                 for url in urls)  # fmt: skip


def channels_over(
    store: MemoryStore, cipher: FernetCipher | None, hidden: list[str] | None = None
) -> AccountNotifications:
    def hide(urls: Iterable[str]) -> None:
        (hidden if hidden is not None else []).extend(urls)

    return AccountNotifications(accounts_over(store), store, cipher, clock=lambda: AT,
                                describe=described, hide=hide)  # fmt: skip


# --- which events are an account's, and what they say ----------------------------------------


def test_an_event_belongs_to_the_account_it_names_and_the_deployments_to_none() -> None:
    mine = msgspec.structs.replace(CLOSED, account="main")
    assert accounts_of(mine) == ("main",)
    assert accounts_of(TradingChanged("halted", "audit", AT, account="main")) == ("main",)
    assert [accounts_of(e) for e in EVENTS] == [()] * len(EVENTS)  # none named: the whole's
    assert accounts_of(MonitorChanged(ProcessChange.DOWN, "silent", AT)) == ()
    assert (channel_label(1), channel_label(0, "fund_b")) == ("1", "fund_b-0")


def test_an_accounts_event_names_it_but_the_implicit_accounts_does_not() -> None:
    assert render(msgspec.structs.replace(CLOSED, account="main")).body.endswith(
        "Bracket 01JX5Z3K8Q4W2N7R9T1V3B5C7D\nAccount main"
    )
    assert render(msgspec.structs.replace(CLOSED, account="default")) == render(CLOSED)


def test_an_accounts_trading_state_is_its_own_event_with_its_name_and_reason() -> None:
    told = RecordingNotifier()
    store = MemoryStore()
    accounts_over(store, told).set_state("alpha", TradingState.HALTED, "audit at 14:30")
    assert told.events == [TradingChanged("halted", "audit at 14:30", AT, account="alpha")]
    message = render(told.events[0])
    assert (message.title, message.body) == ("Account alpha halted", "Reason: audit at 14:30")
    everyone = TradingChanged("halted", "audit at 14:30", AT)
    assert event_key(told.events[0]) != event_key(everyone)  # not taken for the kill switch's
    assert render(TradingChanged("reducing_only", "r", AT, account="alpha")).title == (
        "Account alpha reduce-only: exits only"
    )
    with pytest.raises(UnknownAccount):
        accounts_over(store, told).set_state("ghost", TradingState.HALTED, "x")
    assert len(told.events) == 1


# --- setting them ----------------------------------------------------------------------------


def test_urls_are_sealed_shown_masked_and_hidden_before_anything_reads_them() -> None:
    store, hidden = MemoryStore(), []
    cipher = FernetCipher([Fernet.generate_key().decode()])
    account = channels_over(store, cipher, hidden).set("alpha", [f" {URL} "], "0:urgent")
    assert account.notify == AccountChannels((ChannelShown("tgram", "tgram://***"),), "0:urgent")
    assert hidden == [URL]
    assert "SECRET" not in store.sealed["alpha"]
    assert open_urls(cipher, store.sealed["alpha"], "alpha") == (URL,)
    with pytest.raises(SecretsUnreadable, match=r"^no key of SECRETS_KEY opens the notification"):
        open_urls(FernetCipher([Fernet.generate_key().decode()]), store.sealed["alpha"], "alpha")
    with pytest.raises(SecretsUnreadable, match=r"^SECRETS_KEY is not set, so the notification"):
        open_urls(None, store.sealed["alpha"], "alpha")


@pytest.mark.parametrize(
    ("urls", "events", "sentence"),
    [
        ([], "", "give at least one apprise URL, like tgram://BOT_TOKEN/CHAT_ID, or clear"),
        (["not a url"], "", "URL 0 (counted from 0) is not an apprise URL: write SERVICE://"),
        ([URL] * 11, "", "an account has at most 10 channels"),
        ([URL], "1:all", "notify_events is not valid: there is no channel 1: the account has 1"),
        ([URL], "0:everything", "notify_events is not valid: 'everything' is not an event"),
        ([URL, "nosuch://x"], "", "account alpha's notify_urls: URL 1 (counted from 0) is not"),
    ],
)
def test_channels_that_cannot_be_kept_are_refused_with_a_sentence(
    urls: list[str], events: str, sentence: str
) -> None:
    store = MemoryStore()
    service = channels_over(store, FernetCipher([Fernet.generate_key().decode()]))
    with pytest.raises(InvalidChannels) as refused:
        service.set("alpha", urls, events)
    assert str(refused.value).startswith(sentence)
    assert store.sealed == {}


def test_without_secrets_key_no_channel_is_kept() -> None:
    store = MemoryStore()
    with pytest.raises(KeysLocked, match=r"^SECRETS_KEY is not set, so an account's notification"):
        channels_over(store, None).set("alpha", [URL])
    assert store.sealed == {}
    with pytest.raises(UnknownAccount):
        channels_over(store, None).set("ghost", [URL])


# --- the routes a trading process reads --------------------------------------------------------


def test_routes_are_read_once_per_refresh_and_a_failed_read_keeps_the_last() -> None:
    reads: list[int] = []
    kept = {"alpha": AccountChannels((ChannelShown("tgram", "tgram://***"),), "0:closed")}
    now = [0.0]

    def read() -> Mapping[str, AccountChannels]:
        reads.append(1)
        if len(reads) == 2:
            raise OSError("the database is unreachable")
        return kept

    routing = AccountRouting(read, refresh_seconds=5, clock=lambda: now[0])
    assert routing.routes("alpha").to(EventKind.CLOSED) == (0,)
    assert routing.routes("alpha").to(EventKind.DENIED) == ()
    assert routing.routes("beta") == parse_routes("", 0)
    assert len(reads) == 1
    now[0] = 6.0
    assert routing.routes("alpha").to(EventKind.CLOSED) == (0,)  # the last read
    now[0] = 12.0
    kept["alpha"] = msgspec.structs.replace(kept["alpha"], events="0:nonsense")
    assert routing.routes("alpha").to(EventKind.DENIED) == (0,)  # a bad row: every event
    assert len(reads) == 3
