"""PostgreSQL: a flush the store foresees is one statement (`app.adapters.sql.flush_statement`),
counted from libpq's trace of the protocol, and its UPDATEs find their rows by key."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy
from msgspec.structs import replace

from app.adapters.sql.db import SqlSignalStore
from app.adapters.sql.execution_rows import bracket_rows
from app.adapters.sql.execution_statements import ORDER_CHANGES
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.sql.flush_statement import FlushRows, FlushStatement
from app.domain.brackets.bracket import BracketState
from app.domain.signals import SignalRecord, SignalStatus
from app.ports.execution import Fence, LineageStep
from tests.integration.round_trips import RoundTrips
from tests.integration.test_round_trips import (  # noqa: F401 - the fixture
    KEY,
    NOW,
    engine,
    queued,
    step,
)
from tests.unit.test_brackets import SID, entry, long
from tests.unit.test_execution import alert

pytestmark = [pytest.mark.postgres]


def test_a_flush_the_store_foresees_is_one_statement_a_transaction_of_its_own(
    engine: tuple[sqlalchemy.Engine, RoundTrips],  # noqa: F811
) -> None:
    """Lineage steps, a status change, a new bracket with its order and holdings, then its
    update with a fill (its order, holdings and P&L changes): one statement each, without
    BEGIN and COMMIT; what it wrote is all there."""
    db, trips = engine
    signals, store = queued(db), SqlExecutionStore(db)
    paid = replace(entry(), fee=Decimal("0.04"), fee_currency="USDT")
    filled = replace(long(paid), state=BracketState.OPEN)
    before = trips.statements()
    with store.batch(Fence(KEY, 1)):
        store.record(step("one"))
        store.save_bracket(long(entry("0")), NOW)
    assert trips.statements() - before == 1
    with store.batch(Fence(KEY, 2)):
        bracket = store.bracket(SID)
        assert bracket is not None
        before = trips.statements()
        store.record(step("two"), status=SignalStatus.EXECUTED)
        store.save_bracket(filled, NOW)
    assert trips.statements() - before == 1
    reader = SqlExecutionStore(db)
    assert reader.bracket(SID) == filled
    state = reader.account_state("default", "BTC/USDT", NOW)
    assert [(h.position, h.brackets) for h in state.holdings] == [(Decimal("0.010"), 1)]
    assert state.activity.realized_today == {"USDT": Decimal("-0.04")}
    view = signals.get(SID)
    assert view is not None
    assert (view.status, [c.detail for c in view.history][1:]) == ("executed", ["one", "two"])


def test_a_flush_of_two_brackets_and_two_signals_outcomes_is_one_statement(
    engine: tuple[sqlalchemy.Engine, RoundTrips],  # noqa: F811
) -> None:
    """A job's key runs several signals: a flush can hold the last one's kept-back save and
    outcome with the next one's new bracket and outcome. Still one statement, all written."""
    db, trips = engine
    signals, store = queued(db), SqlExecutionStore(db)
    other = "01JX5Z3K8Q4W2N7R9T1V3B5C99"
    signals.add_many([SignalRecord(other, NOW, SignalStatus.QUEUED, alert(), "native", "k2")])
    store.save_bracket(long(entry("0")), NOW)
    second = replace(long(replace(entry(), client_order_id="second-entry")), id=other)
    with store.batch(Fence(KEY, 1)):
        bracket = store.bracket(SID)
        assert bracket is not None
        before = trips.statements()
        store.record(step("first done"), status=SignalStatus.EXECUTED)
        store.save_bracket(replace(long(entry()), state=BracketState.OPEN), NOW)
        store.record(LineageStep(other, NOW, "note", "second done"), status=SignalStatus.FAILED)
        store.save_bracket(second, NOW)
    assert trips.statements() - before == 1
    reader = SqlExecutionStore(db)
    assert reader.bracket(SID) == replace(long(entry()), state=BracketState.OPEN)
    assert reader.bracket(other) == second
    assert [(h.position, h.brackets) for h in reader.account_state("default", "BTC/USDT",
            NOW).holdings] == [(Decimal("0.020"), 2)]  # fmt: skip
    views = [signals.get(i) for i in (SID, other)]
    assert [(v.status, v.history[-1].detail) for v in views if v] == [
        ("executed", "first done"), ("failed", "second done")]  # fmt: skip


def test_the_flush_statement_finds_the_rows_it_updates_by_their_keys(
    engine: tuple[sqlalchemy.Engine, RoundTrips],  # noqa: F811
) -> None:
    """With a thousand signals and brackets (and their statistics), the flush statement's
    UPDATEs of a bracket and a signal look them up by primary key: a JSON record set, which
    PostgreSQL takes for 100 rows, made it scan and hash both tables, a cost growing with them."""
    db, _ = engine
    ids = [f"01JX5Z3K8Q4W2N7R9T1V{n:06d}" for n in range(1000)]
    SqlSignalStore(db).add_many([SignalRecord(i, NOW, SignalStatus.QUEUED, alert(), "native", i)
                                 for i in ids])  # fmt: skip
    store = SqlExecutionStore(db)
    with store.batch():
        for i in ids:
            bracket = long(replace(entry(), client_order_id=f"{i}-entry"))
            store.save_bracket(replace(bracket, id=i, state=BracketState.OPEN), NOW)
    with db.begin() as conn:
        conn.execute(sqlalchemy.text("ANALYZE brackets; ANALYZE signals"))
    row = bracket_rows([(long(entry()), NOW)])[0][0] | {"id": ids[5], "version": 2, "fence": 1}
    status = {"signal_id": ids[5], "new_status": "executed", "at": NOW, "reason": None}
    flush = FlushRows([(row, False)], [], [status], [], [], [])
    prepared, values = FlushStatement(db, ORDER_CHANGES).statement(flush)
    form = prepared._form(values)
    raw = db.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN " + form.sql, form.params(values))
        plan = "\n".join(line for (line,) in cursor.fetchall())
    finally:
        raw.close()
    assert "Index Scan using brackets_pkey" in plan
    assert "Index Scan using signals_pkey" in plan
    assert "Seq Scan on brackets" not in plan
    assert "Seq Scan on signals" not in plan
