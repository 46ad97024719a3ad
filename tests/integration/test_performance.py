"""`GET /performance` over the stored brackets and signals, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import sqlalchemy

from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.signals import Action, Signal, SignalRecord, SignalStatus
from tests.integration.test_notifications import closed_bracket, open_bracket
from tests.integration.test_web_ops import AUTH
from tests.integration.test_webhook_http import make_client

D = Decimal

NOW = datetime.now(UTC).replace(microsecond=0)


def closed(engine: sqlalchemy.Engine, n: int, strategy: str | None, pnl: str, hours_ago: int,
           account: str = "default") -> None:  # fmt: skip
    """A signal of `strategy` and its bracket, closed `hours_ago` with a realized P&L `pnl`."""
    signal_id = f"01PERF{n:020d}"
    signal = Signal(symbol="BTC/USDT", action=Action.BUY, source="tradingview:native",
                    strategy=strategy, account=account)  # fmt: skip
    SqlSignalStore(engine).add_many([SignalRecord(
        id=signal_id, received_at=NOW, status=SignalStatus.EXECUTED, signal=signal,
        dialect="native", dedupe_key=f"perf-{n}",
    )])  # fmt: skip
    at = NOW - timedelta(hours=hours_ago)
    bracket = msgspec.structs.replace(closed_bracket(signal_id, at), account=account,
                                      realized_pnl=D(pnl))  # fmt: skip
    SqlExecutionStore(engine).save_bracket(bracket, at)


def test_performance_per_strategy_and_account_with_filters(database: str, redis_url: str) -> None:
    engine = make_engine(database)
    for n, (strategy, pnl, hours_ago) in enumerate([
        ("momentum", "10", 50), ("momentum", "-6", 40), ("momentum", "-10", 30),
        ("momentum", "20", 20), ("mean_reversion", "3", 10), (None, "-1", 5),
    ]):  # fmt: skip
        closed(engine, n, strategy, pnl, hours_ago)
    closed(engine, 9, "momentum", "7", 1, account="second")
    SqlExecutionStore(engine).save_bracket(open_bracket("01PERFOPEN0000000000000001", NOW), NOW)
    engine.dispose()

    with make_client(redis_url, database) as client:
        everything = client.get("/performance", headers=AUTH)
        momentum = client.get("/performance?strategy=momentum&account=default", headers=AUTH)
        recent = client.get(
            "/performance", params={"since": (NOW - timedelta(hours=25)).isoformat()},
            headers=AUTH,
        )  # fmt: skip
        wrong = client.get("/performance?until=0.5", headers=AUTH)
        anonymous = client.get("/performance")

    assert everything.status_code == 200
    rows = {(r["strategy"], r["account"]): r for r in everything.json()["strategies"]}
    assert set(rows) == {(None, "default"), ("mean_reversion", "default"),
                         ("momentum", "default"), ("momentum", "second")}  # fmt: skip
    [row] = momentum.json()["strategies"]
    assert row == rows[("momentum", "default")]
    assert (row["trades"], row["wins"], row["losses"], row["currency"]) == (4, 2, 2, "USDT")
    assert D(row["win_rate"]) == D("0.5")
    assert (D(row["average_win"]), D(row["average_loss"])) == (D(15), D(-8))
    assert (D(row["pnl"]), D(row["max_drawdown"])) == (D(14), D(16))
    assert [(r["strategy"], r["trades"]) for r in recent.json()["strategies"]] == [
        (None, 1), ("mean_reversion", 1), ("momentum", 1), ("momentum", 1)
    ]  # fmt: skip
    assert wrong.status_code == 400
    assert "until" in wrong.text
    assert anonymous.status_code == 401
