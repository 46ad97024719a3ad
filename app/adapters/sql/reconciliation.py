"""`ReconciliationStore` and `EntryHolds` in SQL: what the acting monitor's reconciliation found,
read by the web process (`GET /reconciliation`, `/metrics`) and by the workers (entries held
back by a drift under `DRIFT_POLICY=reduce_only`)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import Engine, Float, cast, select

from app.adapters.sql.db import as_utc, dialect_insert, transaction, upsert
from app.adapters.sql.execution_rows import short
from app.adapters.sql.tables_execution import brackets
from app.adapters.sql.tables_reconciliation import baselines, reconciliation, reconciliation_runs
from app.domain.brackets.bracket import FINAL
from app.domain.orders import Side
from app.ports.reconciliation import KeyState, VenueRun, hold_sentence

_FINAL = [s.value for s in FINAL]
HOLDS_CACHE_SECONDS = 1.0  # a worker reads the holds at most this often (a drift lasts 30 s+)


class SqlReconciliationStore:
    def __init__(
        self,
        engine: Engine,
        *,
        holds_cache_seconds: float = HOLDS_CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        insert = dialect_insert(engine)
        self._upsert_state = upsert(insert(reconciliation), ["venue", "symbol"], keep=set())
        self._upsert_baseline = upsert(insert(baselines), ["venue", "key"], keep=set())
        self._upsert_run = upsert(insert(reconciliation_runs), ["venue"], keep=set())
        self._holds_cache_seconds = holds_cache_seconds
        self._monotonic = monotonic
        self._holds: tuple[float, dict[str, str]] | None = None

    # --- baselines ------------------------------------------------------------------------------

    def baselines(self, venue: str) -> dict[str, Decimal]:
        query = select(baselines.c.key, baselines.c.amount).where(baselines.c.venue == venue)
        with transaction(self._engine) as conn:
            return {str(key): amount for key, amount in conn.execute(query).all()}

    def record_baseline(self, venue: str, key: str, amount: Decimal, at: datetime) -> None:
        row = {"venue": venue, "key": key, "amount": amount, "recorded_at": at}
        with transaction(self._engine, write=True) as conn:
            conn.execute(self._upsert_baseline, [row])

    def settled_positions(self, venue: str) -> dict[tuple[str, Side], Decimal]:
        # the cast finds the non-zero leftovers on both databases (SQLite keeps exact text);
        # they are summed exactly here
        query = select(brackets.c.symbol, brackets.c.side, brackets.c.position).where(
            brackets.c.venue == venue,
            brackets.c.state.in_(_FINAL),
            cast(brackets.c.position, Float) != 0,
        )
        sums: dict[tuple[str, Side], Decimal] = defaultdict(Decimal)
        with transaction(self._engine) as conn:
            for symbol, side, position in conn.execute(query).all():
                sums[symbol, Side(side)] += position
        return {key: total for key, total in sums.items() if total}

    # --- states and runs ------------------------------------------------------------------------

    def states(self, venue: str | None = None) -> list[KeyState]:
        query = select(reconciliation).order_by(reconciliation.c.venue, reconciliation.c.symbol)
        if venue is not None:
            query = query.where(reconciliation.c.venue == venue)
        with transaction(self._engine) as conn:
            rows = conn.execute(query).mappings().all()
        return [_state(row) for row in rows]

    def save_states(self, states: Sequence[KeyState]) -> None:
        if not states:
            return
        rows = [msgspec.structs.asdict(s) | {"note": short(s.note, 1000)} for s in states]
        with transaction(self._engine, write=True) as conn:
            conn.execute(self._upsert_state, rows)

    def runs(self) -> list[VenueRun]:
        query = select(reconciliation_runs).order_by(reconciliation_runs.c.venue)
        with transaction(self._engine) as conn:
            rows = conn.execute(query).mappings().all()
        return [
            VenueRun(r["venue"], as_utc(r["checked_at"]), r["error"], r["orphans_cancelled"])
            for r in rows
        ]

    def save_run(self, run: VenueRun) -> None:
        row = msgspec.structs.asdict(run) | {"error": short(run.error, 500)}
        with transaction(self._engine, write=True) as conn:
            conn.execute(self._upsert_run, [row])

    # --- entry holds ----------------------------------------------------------------------------

    def entry_hold(self, symbol: str) -> str | None:
        now = self._monotonic()
        if self._holds is None or now - self._holds[0] >= self._holds_cache_seconds:
            self._holds = (now, self._read_holds())
        return self._holds[1].get(symbol)

    def _read_holds(self) -> dict[str, str]:
        query = select(reconciliation.c.venue, reconciliation.c.symbol, reconciliation.c.drift,
                       reconciliation.c.key).where(reconciliation.c.hold.is_(True))  # fmt: skip
        holds: dict[str, str] = {}
        with transaction(self._engine) as conn:
            for venue, symbol, drift, key in conn.execute(query).all():
                holds.setdefault(symbol, hold_sentence(venue, symbol, key, drift))
        return holds


def _state(row: Any) -> KeyState:
    values = dict(row)
    values["checked_at"] = as_utc(values["checked_at"])
    if values["drift_since"] is not None:
        values["drift_since"] = as_utc(values["drift_since"])
    return msgspec.convert(values, KeyState)


def reconciliation_figures(engine: Engine) -> dict[str, dict[str, float]]:
    """The gauges of `/metrics` (`MetricsSnapshot.extra`): the unexplained drift and the drift
    incidents per venue and symbol, the orphan orders cancelled and the last run per venue."""
    states = select(reconciliation.c.venue, reconciliation.c.symbol, reconciliation.c.drift,
                    reconciliation.c.incidents)  # fmt: skip
    runs = select(reconciliation_runs.c.venue, reconciliation_runs.c.checked_at,
                  reconciliation_runs.c.orphans_cancelled)  # fmt: skip
    with transaction(engine) as conn:
        found, ran = conn.execute(states).all(), conn.execute(runs).all()
    return {
        "drift:venue,symbol": {f"{v},{s}": float(drift) for v, s, drift, _ in found},
        "drift_incidents:venue,symbol": {f"{v},{s}": float(n) for v, s, _, n in found},
        "orphan_orders_cancelled:venue": {v: float(n) for v, _, n in ran},
        "reconciliation_last_run_timestamp_seconds:venue": {
            v: as_utc(at).timestamp() for v, at, _ in ran
        },
    }
