"""The accounts directory intake reads (no I/O: a store in memory whose reads can hang)."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime

import fakeredis
import pytest

from app.adapters.redis.account_memo import MEMO_KEY, RedisDirectoryMemo
from app.domain.accounts import Account, AccountRefused, Subscription, destinations
from app.domain.risk_values import RiskLimits, TradingState
from app.domain.sizing import SizingPolicy
from app.ports.errors import Unavailable
from app.services.accounts import AccountDirectory

pytestmark = pytest.mark.anyio
GUARD = 10.0  # seconds before a test that waits on a hanging read gives up (never a measure)


class HangingStore:
    """Accounts and subscriptions in memory; while `gate` is clear a read waits for it, and
    while `down` a read raises Unavailable."""

    def __init__(self) -> None:
        self.kept = [Account(name="alpha")]
        self.follows = [Subscription(strategy="trend", account="alpha")]
        self.gate = threading.Event()
        self.gate.set()
        self.down = False
        self.reads = 0

    def accounts(self) -> list[Account]:
        self.gate.wait(GUARD)
        self.reads += 1
        if self.down:
            raise Unavailable("the database is unreachable")
        return list(self.kept)

    def subscriptions(self) -> list[Subscription]:
        return list(self.follows)

    def account(self, name: str) -> Account | None:
        raise NotImplementedError

    def add_account(self, account: Account, at: datetime) -> Account:
        raise NotImplementedError

    def change_account(self, account: Account, at: datetime) -> Account | None:
        raise NotImplementedError

    def remove_account(self, name: str) -> bool:
        raise NotImplementedError

    def set_account_state(self, name: str, state: TradingState, at: datetime, reason: str) -> None:
        raise NotImplementedError

    def subscribe(self, subscription: Subscription, at: datetime) -> Subscription:
        raise NotImplementedError

    def unsubscribe(self, strategy: str, account: str) -> bool:
        raise NotImplementedError


def directory_over(store: HangingStore) -> AccountDirectory:
    return AccountDirectory(store, RiskLimits(), SizingPolicy(), refresh_seconds=0)


async def test_a_stale_read_answers_while_the_database_hangs_and_the_new_one_follows() -> None:
    store = HangingStore()
    directory = directory_over(store)
    assert await directory.accounts_for("trend") == ("alpha",)
    store.gate.clear()  # the database hangs
    store.follows = [*store.follows, Subscription(strategy="trend", account="beta")]
    store.kept = [*store.kept, Account(name="beta")]

    # stale at once (refresh_seconds=0): answered from the last read, a refresh started behind
    answers = [await asyncio.wait_for(directory.accounts_for("trend"), GUARD) for _ in range(3)]

    assert answers == [("alpha",)] * 3
    store.gate.set()
    for _ in range(int(GUARD * 100)):
        if await directory.accounts_for("trend") == ("alpha", "beta"):
            break
        await asyncio.sleep(0.01)
    assert await directory.accounts_for("trend") == ("alpha", "beta")


async def test_a_database_gone_after_a_read_leaves_the_last_read_answering() -> None:
    store = HangingStore()
    directory = directory_over(store)
    assert await directory.accounts_for("trend") == ("alpha",)
    store.down = True

    for _ in range(3):
        assert await directory.accounts_for("trend") == ("alpha",)
    assert directory.rules("alpha").refused is None


async def test_never_read_and_the_database_down_is_unavailable() -> None:
    store = HangingStore()
    store.down = True

    with pytest.raises(Unavailable):
        await directory_over(store).accounts_for("trend")


SUBS = [
    Subscription(strategy="trend", account="alpha"),
    Subscription(strategy="trend", account="beta", enabled=False),
]


@pytest.mark.parametrize(
    ("strategy", "account", "expected"),
    [
        ("trend", "default", ("alpha",)),
        ("other", "default", ()),
        (None, "default", ()),
        ("trend", "alpha", ()),  # its own, subscribed: that account only
        ("other", "beta", ()),  # a strategy nobody follows: the account named
        ("trend", "beta", "has no enabled subscription to trend"),
        ("trend", "gamma", "no account is named gamma"),
        ("other", "gamma", "no account is named gamma"),
    ],
)
def test_destinations(strategy: str | None, account: str, expected: object) -> None:
    found = destinations(SUBS, {"alpha", "beta"}, strategy, account)

    if isinstance(expected, str):
        assert isinstance(found, AccountRefused)
        assert expected in found.reason
    else:
        assert found == expected


async def test_a_start_with_the_database_down_reads_the_accounts_last_kept() -> None:
    memo = RedisDirectoryMemo(fakeredis.FakeRedis())
    store = HangingStore()
    first = AccountDirectory(store, RiskLimits(), SizingPolicy(), refresh_seconds=0, memo=memo)
    assert await first.accounts_for("trend") == ("alpha",)
    store.down = True

    again = AccountDirectory(store, RiskLimits(), SizingPolicy(), memo=memo)

    assert await again.accounts_for("trend") == ("alpha",)
    assert again.rules("alpha").refused is None


async def test_a_memo_another_version_wrote_is_as_if_none_was() -> None:
    client = fakeredis.FakeRedis()
    client.set(MEMO_KEY, b'{"accounts": 3}')
    store = HangingStore()
    store.down = True
    directory = AccountDirectory(store, RiskLimits(), SizingPolicy(),
                                 memo=RedisDirectoryMemo(client))  # fmt: skip

    with pytest.raises(Unavailable):
        await directory.accounts_for("trend")
