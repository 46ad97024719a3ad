"""The execution figures of `/metrics`, read at scrape time from SQL: orders and brackets by
state, the risk decisions of the last day, the trading state, and signal-to-order latency.

Computed from the shared tables rather than per-process counters, so every web process answers
the same figures however many workers and monitors run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, func, select

from app.adapters.sql.db import as_utc, transaction
from app.adapters.sql.tables import events, signals
from app.adapters.sql.tables_execution import brackets, controls, orders
from app.domain.brackets.bracket import BracketState
from app.domain.orders import OrderState
from app.domain.risk_values import CheckName, TradingState
from app.domain.signals import SignalStatus

DECISION_WINDOW = timedelta(hours=24)
DECISION_SIGNALS = 5000  # newest decided signals read per scrape: a busy day cannot slow it
LATENCY_WINDOW = 200  # newest executed signals whose signal-to-order latency is shown
APPROVED = "approved"
DENIED = "denied"
UNSTATED = "other"  # a denial recorded without checks (a close while halted, an unsided reverse)
_TRADING_STATE = "trading_state"  # the controls row the kill switch writes
_DECIDED = [SignalStatus.EXECUTED.value, SignalStatus.DENIED.value, SignalStatus.FAILED.value]


@dataclass(frozen=True)
class ExecutionFigures:
    orders_by_state: dict[str, int]
    brackets_by_state: dict[str, int]
    brackets_unprotected: int
    decisions: dict[str, dict[str, int]]
    trading_state: dict[str, int]
    latencies_seconds: tuple[float, ...]
    # per account, as `MetricsSnapshot.extra`: "name:account,label" -> {"alpha,open": 2.0}
    by_account: dict[str, dict[str, float]] = field(default_factory=dict)


class SqlExecutionMetrics:
    """Reads `ExecutionFigures` in one transaction; only reads."""

    def __init__(
        self,
        engine: Engine,
        *,
        decision_signals: int = DECISION_SIGNALS,
        latency_window: int = LATENCY_WINDOW,
    ) -> None:
        self._engine = engine
        self._decision_signals = decision_signals
        self._latency_window = latency_window

    def read(self, now: datetime) -> ExecutionFigures:
        """The figures as of `now` (the decisions window ends there).

        Raises:
            Unavailable: the database could not be reached.
        """
        with transaction(self._engine) as conn:
            by_state = _by_state(conn, brackets, [s.value for s in BracketState])
            decided = self._decision_data(conn, now - DECISION_WINDOW)
            return ExecutionFigures(
                orders_by_state=_by_state(conn, orders, [s.value for s in OrderState]),
                brackets_by_state=by_state,
                # unprotected is never final: every such bracket is open, holding a position
                brackets_unprotected=by_state[BracketState.UNPROTECTED.value],
                decisions=count_decisions(data for _, data in decided),
                trading_state=_trading_state(conn),
                latencies_seconds=self._latencies(conn),
                by_account={
                    "signals_by_account:account,status": _by_account(conn, signals, "status"),
                    "orders_by_account:account,state": _by_account(conn, orders, "state"),
                    "brackets_by_account:account,state": _by_account(conn, brackets, "state"),
                    "decisions_by_account:account,outcome,reason": _decisions_by_account(decided),
                    "position_drifts:account": _drifts(conn, now - DECISION_WINDOW),
                },
            )

    def _decision_data(self, conn: Connection, since: datetime) -> list[tuple[str, Any]]:
        """The account and `data` of decision steps since `since`, for the newest decided
        signals.

        Driven from the indexed `signals.received_at` (and the events' `signal_id` index): the
        events table has no index on its step or time, and scanning it grows with its history.
        A decision follows its signal's arrival, late only while the queue was backed up, so
        signals received within twice the window cover it.
        """
        recent = (
            select(signals.c.id, signals.c.account)
            .where(
                signals.c.received_at >= since - DECISION_WINDOW,
                _unindexed(signals.c.status).in_(_DECIDED),
            )
            .order_by(signals.c.received_at.desc())
            .limit(self._decision_signals)
            .subquery()
        )
        query = (
            select(recent.c.account, events.c.data)
            .join(recent, recent.c.id == events.c.signal_id)
            .where(events.c.status == "decision", events.c.at >= since)
        )
        return [(account, data) for account, data in conn.execute(query).all()]

    def _latencies(self, conn: Connection) -> tuple[float, ...]:
        """received_at to the first `order` step, for those of the newest executed signals that
        placed an order (a close places its orders on the brackets' lineage, not its own)."""
        recent = (
            select(signals.c.id, signals.c.received_at)
            .where(_unindexed(signals.c.status) == SignalStatus.EXECUTED.value)
            .order_by(signals.c.received_at.desc())
            .limit(self._latency_window)
            .subquery()
        )
        query = (
            select(recent.c.received_at, func.min(events.c.at))
            .join(events, events.c.signal_id == recent.c.id)
            .where(events.c.status == "order")
            .group_by(recent.c.id, recent.c.received_at)
        )
        return tuple(
            max(0.0, (as_utc(first) - as_utc(received)).total_seconds())
            for received, first in conn.execute(query).all()
        )


def _unindexed(column: ColumnElement[str]) -> ColumnElement[str]:
    """The column behind a function, so that no planner drives the query from its index.

    SQLite, without statistics, prefers the status index over the arrival-time one: it then
    reads every executed signal ever and sorts them all, where walking `received_at` backwards
    stops after the newest few hundred (150 ms against 2 ms at 200,000 signals).
    """
    return func.coalesce(column, "")


def count_decisions(decisions: Iterable[Any]) -> dict[str, dict[str, int]]:
    """Decisions by outcome and reason from their lineage `data` (`{"checks": [...]}`).

    An approval has checks and every one passed (reason `""`); a denial counts once per failed
    check under that check's name, or once under `other` when it was recorded without checks.
    Every risk check's name is present, zero included, so its series exists before it fires.
    """
    approved = {"": 0}
    denied = {name.value: 0 for name in CheckName} | {UNSTATED: 0}
    for data in decisions:
        checks = _checks(data)
        failed = [name for name, passed in checks if not passed]
        if checks and not failed:
            approved[""] += 1
        for name in failed or ([] if checks else [UNSTATED]):
            denied[name] = denied.get(name, 0) + 1
    return {APPROVED: approved, DENIED: denied}


def _checks(data: Any) -> list[tuple[str, bool]]:
    raw = data.get("checks") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return []
    return [
        (str(item["name"]), item.get("passed") is True)
        for item in raw
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    ]


def _by_state(conn: Connection, table: Table, known: list[str]) -> dict[str, int]:
    # every known state, zero included, so that a series exists before its first row
    counts = dict.fromkeys(known, 0)
    query = select(table.c.state, func.count()).group_by(table.c.state)
    for state, count in conn.execute(query).all():
        counts[state] = int(count)
    return counts


def _trading_state(conn: Connection) -> dict[str, int]:
    query = select(controls.c.value).where(controls.c.name == _TRADING_STATE)
    current = conn.execute(query).scalar() or TradingState.ACTIVE.value
    states = dict.fromkeys([s.value for s in TradingState], 0)
    return states | {current: 1}


def _by_account(conn: Connection, table: Table, column: str) -> dict[str, float]:
    """Rows by account and `column` (status or state), keyed "account,value"."""
    query = select(table.c.account, table.c[column], func.count()).group_by(
        table.c.account, table.c[column]
    )
    return {f"{account},{value}": float(count) for account, value, count in conn.execute(query)}


def _decisions_by_account(decided: Iterable[tuple[str, Any]]) -> dict[str, float]:
    """`count_decisions` per account, keyed "account,outcome,reason"; the zero series are left
    to the unlabelled figures."""
    accounts: dict[str, list[Any]] = {}
    for account, data in decided:
        accounts.setdefault(account, []).append(data)
    return {
        f"{account},{outcome},{reason}": float(count)
        for account, found in accounts.items()
        for outcome, reasons in count_decisions(found).items()
        for reason, count in reasons.items()
        if count
    }


def _drifts(conn: Connection, since: datetime) -> dict[str, float]:
    """Signals received since `since` whose account had drifted from its strategy
    (POSITION_SYNC's `drift` steps), by account; driven from `signals.received_at` as the
    decisions are."""
    query = (
        select(signals.c.account, func.count())
        .join(events, events.c.signal_id == signals.c.id)
        .where(signals.c.received_at >= since, events.c.status == "drift")
        .group_by(signals.c.account)
    )
    return {account: float(count) for account, count in conn.execute(query)}
