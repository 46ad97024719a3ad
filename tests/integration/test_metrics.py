"""The execution figures of /metrics, from rows seeded through the real stores, on SQLite and on
the real PostgreSQL: orders, brackets, unprotected brackets, decisions, trading state, latency."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy
from litestar.testing import TestClient

from app.adapters.sql.db import SqlSignalStore
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.sql.metrics_execution import SqlExecutionMetrics
from app.domain.brackets.bracket import Bracket, BracketState, LegOrder
from app.domain.market import Market
from app.domain.orders import Leg, OrderKind, OrderState, Side
from app.domain.risk_values import CheckName, TradingState
from app.domain.signals import Action, Signal, SignalRecord, SignalStatus
from app.ports.execution import LineageStep as Step
from tests.integration.test_web_ops import scrape
from tests.integration.test_webhook_http import make_client

NOW = datetime.now(UTC).replace(microsecond=0)
MARKET = Market("BTC/USDT", "BTC", "USDT")


@pytest.fixture
def client(redis_url: str, database: str) -> Iterator[TestClient[Any]]:
    with make_client(redis_url, database) as test_client:
        yield test_client


def add_signal(engine: sqlalchemy.Engine, n: int, received_at: datetime) -> str:
    signal_id = f"01MET{n:021d}"
    signal = Signal(symbol="BTC/USDT", action=Action.BUY, source="tradingview:native")
    record = SignalRecord(
        id=signal_id,
        received_at=received_at,
        status=SignalStatus.QUEUED,
        signal=signal,
        dialect="native",
        dedupe_key=f"metrics-{n}",
    )
    SqlSignalStore(engine).add_many([record])
    return signal_id


def checks(*failed: str) -> dict[str, Any]:
    passed = [{"name": CheckName.MAX_ORDER_NOTIONAL, "passed": True, "detail": "within"}]
    return {"checks": passed + [{"name": n, "passed": False, "detail": "no"} for n in failed]}


def leg(name: Leg, state: OrderState, n: int) -> LegOrder:
    side = Side.BUY if name is Leg.ENTRY else Side.SELL
    return LegOrder(name, f"cid-{n}-{name}", side, OrderKind.MARKET, Decimal("0.01"), state=state)


def bracket(signal_id: str, state: BracketState, *legs: LegOrder) -> Bracket:
    return Bracket(
        id=signal_id,
        account="default",
        venue="paper",
        symbol="BTC/USDT",
        side=Side.BUY,
        market=MARKET,
        opened_at=NOW - timedelta(hours=1),
        state=state,
        orders=legs,
    )


def seed(engine: sqlalchemy.Engine) -> None:
    """Two executed entries, three denials and an old denial, four brackets, a halt."""
    store = SqlExecutionStore(engine)
    start = NOW - timedelta(hours=1)
    fast, slow = add_signal(engine, 1, start), add_signal(engine, 2, start + timedelta(seconds=1))
    for signal_id, seconds in ((fast, 0.25), (slow, 1.5)):
        received = start + timedelta(seconds=1 if signal_id == slow else 0)
        filled = received + timedelta(seconds=seconds)
        approved = "approved: every check passed"
        store.record(Step(signal_id, received, "decision", approved, checks()))
        store.record(Step(signal_id, filled, "order", "entry filled"))
        # the legs come later: only the first order step is the latency
        store.record(Step(signal_id, start + timedelta(seconds=9), "order", "tp accepted"))
        store.record(Step(signal_id, start + timedelta(seconds=9), "bracket", "open"),
                     status=SignalStatus.EXECUTED)  # fmt: skip
    two_failed = add_signal(engine, 3, start + timedelta(seconds=2))
    store.record(Step(two_failed, start, "decision", "denied: ...",
                      checks("max_daily_loss", "sizing")), status=SignalStatus.DENIED)  # fmt: skip
    one_failed = add_signal(engine, 4, start + timedelta(seconds=3))
    store.record(Step(one_failed, start, "decision", "denied: ...", checks("max_daily_loss")),
                 status=SignalStatus.DENIED)  # fmt: skip
    halted = add_signal(engine, 5, start + timedelta(seconds=4))
    store.record(Step(halted, start, "decision", "trading is halted: nothing is placed"),
                 status=SignalStatus.DENIED)  # fmt: skip
    old = add_signal(engine, 6, NOW - timedelta(hours=26))
    store.record(Step(old, NOW - timedelta(hours=25), "decision", "denied: ...",
                      checks("price_band")), status=SignalStatus.DENIED)  # fmt: skip
    # a close executes without an order step of its own: no latency
    closing = add_signal(engine, 7, start + timedelta(seconds=5))
    store.record(Step(closing, start, "close", "closed 1 of 1"), status=SignalStatus.EXECUTED)

    at = NOW - timedelta(minutes=30)
    store.save_bracket(
        bracket(fast, BracketState.OPEN, leg(Leg.ENTRY, OrderState.FILLED, 1),
                leg(Leg.TAKE_PROFIT, OrderState.ACCEPTED, 1),
                leg(Leg.STOP_LOSS, OrderState.ACCEPTED, 1)), at)  # fmt: skip
    store.save_bracket(
        bracket(slow, BracketState.UNPROTECTED, leg(Leg.ENTRY, OrderState.FILLED, 2),
                leg(Leg.STOP_LOSS, OrderState.REJECTED, 2)), at)  # fmt: skip
    store.save_bracket(bracket("01METOLDCLOSED000000000000", BracketState.CLOSED), at)
    store.save_bracket(
        bracket("01METOLDUNPROTECTED0000000", BracketState.UNPROTECTED,
                leg(Leg.ENTRY, OrderState.UNKNOWN, 3)), at)  # fmt: skip
    store.set_trading_state(TradingState.HALTED, NOW, "a test halts trading")


def by_label(samples: dict[tuple[tuple[str, str], ...], float], label: str) -> dict[str, float]:
    return {dict(key)[label]: value for key, value in samples.items()}


def test_execution_metrics_from_the_stores(client, engine):
    seed(engine)
    metrics = scrape(client)

    orders = by_label(metrics["signalgate_orders"], "state")
    assert orders == {state.value: 0 for state in OrderState} | {
        "filled": 2,
        "accepted": 2,
        "rejected": 1,
        "unknown": 1,
    }
    brackets = by_label(metrics["signalgate_brackets"], "state")
    assert brackets == {"opening": 0, "open": 1, "unprotected": 2, "closed": 1, "failed": 0}
    assert metrics["signalgate_brackets_unprotected"] == {(): 2}

    decisions = {
        (dict(key)["outcome"], dict(key)["reason"]): value
        for key, value in metrics["signalgate_decisions"].items()
    }
    nonzero = {key: value for key, value in decisions.items() if value}
    # one count per failed check; the 25-hour-old denial is out of the window
    assert nonzero == {
        ("approved", ""): 2,
        ("denied", "max_daily_loss"): 2,
        ("denied", "sizing"): 1,
        ("denied", "other"): 1,
    }
    # every risk check has its series before it first fires
    assert decisions[("denied", "price_band")] == 0
    assert {("denied", name.value) for name in CheckName} <= decisions.keys()

    assert by_label(metrics["signalgate_trading_state"], "state") == {
        "active": 0,
        "reducing_only": 0,
        "halted": 1,
    }

    latency = metrics["signalgate_execution_latency_seconds"]
    assert metrics["signalgate_execution_latency_seconds_count"] == {(): 2}
    assert metrics["signalgate_execution_latency_seconds_sum"] == {(): pytest.approx(1.75)}
    assert latency[(("quantile", "0.5"),)] == pytest.approx(0.25)
    assert latency[(("quantile", "0.99"),)] == pytest.approx(1.5)


def test_empty_database_shows_every_series_at_zero_and_trading_active(client):
    metrics = scrape(client)
    assert set(by_label(metrics["signalgate_orders"], "state").values()) == {0}
    assert set(by_label(metrics["signalgate_brackets"], "state").values()) == {0}
    assert metrics["signalgate_brackets_unprotected"] == {(): 0}
    assert set(metrics["signalgate_decisions"].values()) == {0}
    assert by_label(metrics["signalgate_trading_state"], "state") == {
        "active": 1,
        "reducing_only": 0,
        "halted": 0,
    }
    assert metrics["signalgate_execution_latency_seconds_count"] == {(): 0}


def test_decisions_and_latencies_are_bounded_to_the_newest_signals(engine):
    seed(engine)
    bounded = SqlExecutionMetrics(engine, decision_signals=3, latency_window=2)
    figures = bounded.read(NOW)
    # the newest three decided signals by arrival: the close (no decision), the halted close
    # and the one-check denial
    nonzero = {
        (outcome, reason): count
        for outcome, reasons in figures.decisions.items()
        for reason, count in reasons.items()
        if count
    }
    assert nonzero == {("denied", "other"): 1, ("denied", "max_daily_loss"): 1}
    # the newest two executed: the close (no order step of its own) and the slow entry
    assert figures.latencies_seconds == pytest.approx((1.5,))

    everything = SqlExecutionMetrics(engine).read(NOW)
    assert sorted(everything.latencies_seconds) == pytest.approx([0.25, 1.5])
    # a day later, every decision has left the window; the states stay as they are
    later = SqlExecutionMetrics(engine).read(NOW + timedelta(days=1, hours=1))
    assert later.decisions["approved"] == {"": 0}
    assert set(later.decisions["denied"].values()) == {0}
    assert later.brackets_unprotected == 2
    assert later.trading_state["halted"] == 1
