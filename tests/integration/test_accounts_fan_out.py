"""One alert, three accounts: a strategy subscribed by three accounts (two on paper venues, one on
the local fake Binance through unmodified ccxt) fans an alert out to a signal per account, over
the real webhook, Redis inbox, forwarder and SQL. Each signal runs with its account's venues,
sizing and limits; a halted account's signal is denied with the reason, the others execute."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis
from litestar.testing import TestClient

from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.paper.exchange import PaperExchange
from app.adapters.redis.locks import RedisKeyLocks
from app.adapters.sql.accounts import SqlAccountStore
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.system import new_ulid
from app.bootstrap.venues import paper_market
from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.domain.accounts import Account, AccountLimits, AccountSizing
from app.domain.brackets.bracket import Bracket
from app.domain.orders import Leg
from app.domain.paper.venue import PaperVenue
from app.domain.risk_values import RiskLimits, TradingState
from app.domain.signals import Action, QtyMode, Signal, SignalRecord, SignalStatus
from app.domain.sizing import SizingPolicy
from app.entrypoints.web.app import create_app
from app.services.accounts import AccountConflict, AccountDirectory, Accounts
from app.services.execution.executor import Executor
from tests.fake_binance import API_KEY, API_SECRET, RunningFake
from tests.integration.helpers import eventually, forwarded
from tests.integration.test_execution_ccxt import FAST
from tests.paper_helpers import book

pytestmark = pytest.mark.anyio
D = Decimal
SECRET = "s3cret-Hook-Value"
TOKEN = "api-token-123"
VENUES = ("paper_a", "paper_b", "binance")


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Desk:
    """The web process (its intake fans out), the accounts, and a worker's executor."""

    client: TestClient[Any]
    accounts: Accounts
    executor: Executor
    store: SqlExecutionStore
    signals: SqlSignalStore
    fake: RunningFake
    redis_url: str

    def alert(self, alert_id: str) -> dict[str, Any]:
        body = {"symbol": "BINANCE:BTCUSDT", "action": "buy", "qty": "0.01", "id": alert_id,
                "take_profit": {"percent": 4}, "stop_loss": {"percent": 2},
                "secret": SECRET}  # fmt: skip
        response = self.client.post("/webhook/trend", content=json.dumps(body))
        assert response.status_code in (200, 202), response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def run(self, ids: Sequence[str]) -> dict[str, SignalStatus]:
        """Run the alert's signals as a worker would, once the forwarder moved them."""
        for signal_id in ids:
            eventually(lambda i=signal_id: forwarded(self.redis_url, i))
        return await self.executor.execute_many(ids)

    def bracket(self, signal_id: str) -> Bracket:
        found = self.store.bracket(signal_id)
        assert found is not None
        return found

    def decision(self, signal_id: str) -> str:
        shown = self.signals.get(signal_id)
        assert shown is not None
        return next(s.detail or "" for s in reversed(shown.history) if s.status == "decision")


def paper(name: str) -> PaperExchange:
    books = {"BTC/USDT": book("49990x5", "50010x5")}
    venue = PaperVenue(name, [paper_market("BTC/USDT", D("0.001"))], {"USDT": D(100_000)})
    return PaperExchange(venue, books.__getitem__, now)


@pytest.fixture
async def desk(fake: RunningFake, sqlite_url: str, redis_url: str) -> AsyncIterator[Desk]:
    engine = make_engine(sqlite_url)
    binance = CcxtExchange("binance", mode="testnet", api_key=API_KEY, secret=API_SECRET,
                           base_url=fake.url, timeout_ms=500, retry=FAST,
                           options={"recvWindow": 300})  # fmt: skip
    venues = {"paper_a": paper("paper_a"), "paper_b": paper("paper_b"), "binance": binance}
    sync = redis.Redis.from_url(redis_url)
    store = SqlAccountStore(engine)
    executor = Executor(
        store=SqlExecutionStore(engine), venues=venues,
        modes={"paper_a": "paper", "paper_b": "paper", "binance": "testnet"},
        clock=now, locks=RedisKeyLocks(sync), limits=RiskLimits(), sizing=SizingPolicy(),
        accounts=AccountDirectory(store, RiskLimits(), SizingPolicy(), refresh_seconds=0),
    )  # fmt: skip
    settings = Settings(redis_url=redis_url, database_url=sqlite_url, webhook_secret=SECRET,
                        api_token=TOKEN)  # fmt: skip
    services = build_services(settings)
    # the web process's intake sees these changes at once, as it sees those of its own API
    accounts = Accounts(store, clock=now, connections=lambda: VENUES,
                        changed=services.directory.forget)  # fmt: skip
    with TestClient(create_app(services)) as client:
        yield Desk(client, accounts, executor, SqlExecutionStore(engine), SqlSignalStore(engine),
                   fake, redis_url)  # fmt: skip
    await binance.close()
    sync.close()
    engine.dispose()


def subscribe_three(accounts: Accounts) -> None:
    """alpha doubles the alert's size (its own order limit allows it), beta sizes every entry at
    500 USDT, gamma trades half the alert's size on Binance."""
    accounts.add(Account(name="alpha", connections=("paper_a",),
                         limits=AccountLimits(max_order_notional=D(2500)),
                         sizing=AccountSizing(multiplier=D(2))))  # fmt: skip
    own = AccountSizing(qty_mode=QtyMode.QUOTE, quantity=D(500))
    accounts.add(Account(name="beta", connections=("paper_b",), sizing=own))
    accounts.add(Account(name="gamma", connections=("binance",),
                         sizing=AccountSizing(multiplier=D("0.5"))))  # fmt: skip
    for name in ("alpha", "beta", "gamma"):
        accounts.subscribe("trend", name)


async def test_one_alert_becomes_a_bracket_per_subscribed_account_sized_its_way(
    desk: Desk,
) -> None:
    subscribe_three(desk.accounts)

    answer = desk.alert("tv-1")

    assert answer["status"] == "queued"
    ids = answer["signal_ids"]
    assert len(set(ids)) == 3
    assert answer["signal_id"] == ids[0]
    assert answer["accounts"] == ["alpha", "beta", "gamma"]
    statuses = await desk.run(ids)
    assert set(statuses.values()) == {SignalStatus.EXECUTED}, [desk.decision(i) for i in ids]
    alpha, beta, gamma = (desk.bracket(i) for i in ids)
    assert [b.account for b in (alpha, beta, gamma)] == ["alpha", "beta", "gamma"]
    assert [b.venue for b in (alpha, beta, gamma)] == ["paper_a", "paper_b", "binance"]
    assert [b.symbol for b in (alpha, beta, gamma)] == ["BTC/USDT"] * 3
    assert alpha.orders[0].amount == D("0.02")
    assert beta.orders[0].amount == D("0.00999800")  # 500 USDT at 50,010, the step 0.00000001
    assert gamma.orders[0].amount == D("0.005")
    (entry,) = desk.fake.venue.orders_with_client_id(gamma.orders[0].client_order_id)
    assert D(entry["executedQty"]) == D("0.005")
    for bracket in (alpha, beta, gamma):
        assert {o.leg for o in bracket.orders} >= {Leg.ENTRY, Leg.STOP_LOSS}

    again = desk.alert("tv-1")  # TradingView retried: nothing fans out twice
    assert (again["status"], again["signal_ids"]) == ("duplicate", ids)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    listed = desk.client.get("/signals?account=gamma", headers=auth).json()["signals"]
    assert [(s["id"], s["account"]) for s in listed] == [(ids[2], "gamma")]
    orders = desk.client.get("/orders?account=alpha", headers=auth).json()["orders"]
    assert {o["signal_id"] for o in orders} == {ids[0]}
    assert {o["account"] for o in orders} == {"alpha"}
    positions = desk.client.get("/positions", headers=auth).json()
    assert {p["account"] for p in positions} == {"alpha", "beta", "gamma"}
    scraped = desk.client.get("/metrics", headers=auth).text
    for account in ("alpha", "beta", "gamma"):
        assert f'signalgate_signals_by_account{{account="{account}",status="executed"}} 1.0' in (
            scraped
        )
        assert f'signalgate_brackets_by_account{{account="{account}",state="open"}} 1.0' in (
            scraped
        )


async def test_a_halted_account_is_denied_with_the_reason_and_the_others_execute(
    desk: Desk,
) -> None:
    subscribe_three(desk.accounts)
    desk.accounts.set_state("beta", TradingState.HALTED, "rebalancing")

    answer = desk.alert("tv-2")

    alpha, beta, gamma = ids = answer["signal_ids"]
    statuses = await desk.run(ids)
    assert statuses == {alpha: SignalStatus.EXECUTED, beta: SignalStatus.DENIED,
                        gamma: SignalStatus.EXECUTED}  # fmt: skip
    assert "trading is halted for account beta" in desk.decision(beta)
    assert desk.store.bracket(beta) is None
    assert desk.bracket(alpha).venue == "paper_a"
    assert desk.bracket(gamma).venue == "binance"


async def test_without_subscriptions_the_alert_stays_one_signal_on_the_implicit_account(
    desk: Desk,
) -> None:
    answer = desk.alert("tv-3")

    assert set(answer) == {"status", "signal_id", "reason"}
    assert answer["status"] == "queued"
    eventually(lambda: forwarded(desk.redis_url, answer["signal_id"]))
    shown = desk.signals.get(answer["signal_id"])
    assert shown is not None
    assert shown.account == "default"


def test_a_disabled_subscription_is_left_out(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    store = SqlAccountStore(engine)
    accounts = Accounts(store, clock=now, connections=lambda: VENUES)
    subscribe_three(accounts)
    accounts.subscribe("trend", "beta", enabled=False)
    directory = AccountDirectory(store, RiskLimits(), SizingPolicy())

    assert _subscribers(directory, "trend") == ("alpha", "gamma")
    assert _subscribers(directory, "other") == ()
    accounts.remove("gamma")
    directory.forget()
    assert _subscribers(directory, "trend") == ("alpha",)
    engine.dispose()


def _subscribers(directory: AccountDirectory, strategy: str) -> tuple[str, ...]:
    return asyncio.run(directory.accounts_for(strategy))


def _queued(desk: Desk, account: str, alert_id: str) -> str:
    """A signal of `account` kept as queued, as one still in the queue when it was removed."""
    signal = Signal(symbol="BTC/USDT", action=Action.BUY, source="tradingview:native",
                    account=account, quantity=D("0.01"), alert_id=alert_id)  # fmt: skip
    record = SignalRecord(id=new_ulid(), received_at=now(), status=SignalStatus.QUEUED,
                          signal=signal, dialect="native", dedupe_key=alert_id)  # fmt: skip
    desk.signals.add_many([record])
    return record.id


async def test_a_signal_of_an_account_that_is_not_kept_is_denied_and_places_nothing(
    desk: Desk,
) -> None:
    subscribe_three(desk.accounts)
    signal_id = _queued(desk, "ghost", "tv-ghost")

    statuses = await desk.executor.execute_many([signal_id])

    assert statuses == {signal_id: SignalStatus.DENIED}
    assert "no account is named ghost" in desk.decision(signal_id)
    assert desk.store.bracket(signal_id) is None
    assert desk.fake.venue.orders_with_client_id(signal_id) == []


async def test_an_account_added_since_the_last_read_is_read_again_not_refused(
    desk: Desk, sqlite_url: str
) -> None:
    engine = make_engine(sqlite_url)
    store = SqlAccountStore(engine)
    directory = AccountDirectory(store, RiskLimits(), SizingPolicy())
    assert directory.rules("default").refused is None
    desk.accounts.add(Account(name="late", connections=("paper_a",)))

    rules = directory.rules("late")  # within the 5 s of the last read

    assert rules.refused is None
    assert rules.venues == frozenset({"paper_a"})
    assert directory.rules("ghost").refused is not None
    engine.dispose()


async def test_an_account_with_a_pending_signal_or_an_open_bracket_is_not_removed(
    desk: Desk,
) -> None:
    subscribe_three(desk.accounts)
    signal_id = _queued(desk, "beta", "tv-beta")

    with pytest.raises(AccountConflict, match="account beta still has 1 pending signals"):
        desk.accounts.remove("beta")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answer = desk.client.delete("/accounts/beta", headers=auth)
    assert answer.status_code == 409, answer.text
    assert "halt it" in answer.json()["reason"]
    assert [a.name for a in desk.accounts.list_all()] == ["alpha", "beta", "gamma"]

    assert await desk.executor.execute_many([signal_id]) == {signal_id: SignalStatus.EXECUTED}
    with pytest.raises(AccountConflict, match="0 pending signals and 1 open brackets"):
        desk.accounts.remove("beta")


async def test_an_alert_that_names_an_account_trades_it_only_through_an_enabled_subscription(
    desk: Desk,
) -> None:
    subscribe_three(desk.accounts)
    desk.accounts.subscribe("trend", "beta", enabled=False)
    desk.accounts.add(Account(name="delta", connections=("paper_a",)))  # follows no strategy

    def named(account: str, alert_id: str) -> Any:
        body = {"symbol": "BTCUSDT", "action": "buy", "qty": "0.01", "id": alert_id,
                "account": account, "secret": SECRET}  # fmt: skip
        return desk.client.post("/webhook/trend", content=json.dumps(body))

    for account in ("beta", "delta"):
        refused = named(account, f"tv-{account}")
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "account"
        assert refused.json()["reason"] == (
            f"account {account} has no enabled subscription to trend: subscribe it (`signalgate"
            f" subscriptions add trend {account}`), or send the alert without `account` to trade"
            " the strategy's subscribers"
        )
    typo = named("gama", "tv-typo")
    assert (typo.status_code, typo.json()["reason"]) == (422, (
        "no account is named gama: add it (`signalgate accounts add gama`) or send the alert"
        " without `account`, or with one that `signalgate accounts list` shows"
    ))  # fmt: skip
    own = named("gamma", "tv-gamma")  # subscribed and enabled: that account only
    assert own.status_code == 202, own.text
    assert "signal_ids" not in own.json()
    eventually(lambda: forwarded(desk.redis_url, own.json()["signal_id"]))
    kept = desk.signals.get(own.json()["signal_id"])
    assert kept is not None
    assert kept.account == "gamma"
    alone = desk.client.post("/webhook/other", content=json.dumps(
        {"symbol": "BTCUSDT", "action": "buy", "qty": "0.01", "account": "delta",
         "secret": SECRET}))  # fmt: skip
    assert alone.status_code == 202, alone.text  # a strategy nobody follows: the account named
