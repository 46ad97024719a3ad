"""Position drift through the road: TradingView strategy alerts over the real webhook, inbox and
forwarder, executed by a worker's executor on SQL and a paper venue. An account long 0.005 while
the alert says the strategy was flat is flagged (a `drift` step; executed as asked) or, with
POSITION_SYNC=align, sized so that it ends where the strategy is."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
from litestar.testing import TestClient

from app.adapters.redis.locks import RedisKeyLocks
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.sql.metrics_execution import SqlExecutionMetrics
from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.domain.execution_policy import EntryPolicy, ExecutionPolicy
from app.domain.position_sync import PositionSync
from app.domain.risk_values import RiskLimits
from app.domain.signals import SignalStatus
from app.domain.sizing import SizingPolicy
from app.entrypoints.web.app import create_app
from app.services.execution.executor import Executor
from tests.integration.helpers import eventually, forwarded
from tests.integration.test_accounts_fan_out import now, paper

pytestmark = pytest.mark.anyio
D = Decimal
SECRET = "s3cret-Hook-Value"
TOKEN = "api-token-123"

Run = Callable[..., Any]


def strategy_alert(alert_id: str, contracts: str, size: str, before: str = "flat") -> str:
    return json.dumps({"ticker": "BTCUSDT", "action": "buy", "contracts": contracts,
                       "market_position": "long", "prev_market_position": before,
                       "market_position_size": size, "id": alert_id,
                       "stop_loss": {"percent": 2}, "secret": SECRET})  # fmt: skip


class Road:
    def __init__(self, sqlite_url: str, redis_url: str, client: TestClient[Any]) -> None:
        self.engine = make_engine(sqlite_url)
        self.redis_url, self.client = redis_url, client
        self.sync = redis.Redis.from_url(redis_url)
        self.venue = paper("paper")
        self.store, self.signals = SqlExecutionStore(self.engine), SqlSignalStore(self.engine)

    def executor(self, sync: PositionSync, entry: EntryPolicy = EntryPolicy.IGNORE) -> Executor:
        return Executor(
            store=self.store, venues={"paper": self.venue}, modes={"paper": "paper"}, clock=now,
            locks=RedisKeyLocks(self.sync), limits=RiskLimits(), sizing=SizingPolicy(),
            policy=ExecutionPolicy(entry_policy=entry, position_sync=sync),
        )  # fmt: skip

    async def send(self, executor: Executor, body: str) -> tuple[str, SignalStatus]:
        answer = self.client.post("/webhook/trend", content=body).json()
        signal_id = answer["signal_id"]
        eventually(lambda: forwarded(self.redis_url, signal_id))
        return signal_id, await executor.execute(signal_id)

    def steps(self, signal_id: str) -> dict[str, str]:
        shown = self.signals.get(signal_id)
        assert shown is not None
        return {s.status: s.detail or "" for s in shown.history}

    def held(self) -> Decimal:
        return sum((b.position for b in self.store.open_brackets("default", "BTC/USDT")), D(0))


@pytest.fixture
def road(sqlite_url: str, redis_url: str) -> Iterator[Road]:
    settings = Settings(redis_url=redis_url, database_url=sqlite_url, webhook_secret=SECRET,
                        api_token=TOKEN)  # fmt: skip
    with TestClient(create_app(build_services(settings))) as client:
        found = Road(sqlite_url, redis_url, client)
        yield found
    found.sync.close()
    found.engine.dispose()


async def long_first(road: Road, executor: Executor) -> None:
    """The account goes long 0.005 on an alert that agrees with it (no drift)."""
    signal_id, status = await road.send(executor, strategy_alert("tv-1", "0.005", "0.005"))
    assert status is SignalStatus.EXECUTED
    assert "drift" not in road.steps(signal_id)
    assert road.held() == D("0.005")


async def test_flag_records_the_drift_and_executes_as_asked(road: Road) -> None:
    executor = road.executor(PositionSync.FLAG, EntryPolicy.ADD)
    await long_first(road, executor)

    signal_id, status = await road.send(executor, strategy_alert("tv-2", "0.01", "0.01"))

    assert status is SignalStatus.EXECUTED, road.steps(signal_id).get("decision")
    assert road.steps(signal_id)["drift"] == (
        "the strategy was flat before this order but the account is long 0.005 (POSITION_SYNC=flag)"
    )
    assert road.held() == D("0.015")  # as asked: 0.01 more
    figures = SqlExecutionMetrics(road.engine).read(now()).by_account
    assert figures["position_drifts:account"] == {"default": 1.0}


async def test_align_sizes_the_order_to_where_the_strategy_is(road: Road) -> None:
    executor = road.executor(PositionSync.ALIGN)  # ENTRY_POLICY=ignore: align adds all the same
    await long_first(road, executor)

    signal_id, status = await road.send(executor, strategy_alert("tv-2", "0.01", "0.01"))

    assert status is SignalStatus.EXECUTED
    steps = road.steps(signal_id)
    assert "POSITION_SYNC=align" in steps["drift"]
    assert steps["align"] == "aligned: 0.005 to reach long 0.01 (the alert's units)"
    assert road.held() == D("0.01")

    again, status = await road.send(executor, strategy_alert("tv-3", "0.01", "0.01"))

    assert status is SignalStatus.EXECUTED  # flat before, says the alert: a drift, but aligned
    assert road.steps(again)["align"] == (
        "aligned: the account already holds long 0.01 (the alert's units) or more; nothing placed"
    )
    assert road.store.bracket(again) is None
    assert road.held() == D("0.01")
