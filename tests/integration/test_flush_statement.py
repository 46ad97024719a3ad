"""PostgreSQL: a flush the store foresees is one statement (`app.adapters.sql.flush_statement`),
counted from libpq's trace of the protocol, and its UPDATEs find their rows by key."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
import sqlalchemy
from msgspec.structs import replace

from app.adapters.bracket_holders import NEW
from app.adapters.sql.bracket_flight import BracketFlight, Known, row_before
from app.adapters.sql.bracket_saves import Flush, Save
from app.adapters.sql.db import SqlSignalStore
from app.adapters.sql.execution_rows import bracket_rows, step_row
from app.adapters.sql.execution_statements import ORDER_CHANGES, ExecutionStatements
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.sql.flush_statement import SLOTS, FlushRows, FlushStatement
from app.adapters.sql.holdings import HoldingRows, SavedRow
from app.domain.brackets.bracket import BracketState
from app.domain.orders import Leg
from app.domain.signals import SignalRecord, SignalStatus
from app.ports.errors import Unavailable
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
OTHER = "01JX5Z3K8Q4W2N7R9T1V3B5C99"


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


_TABLES = ("signals", "signal_events", "brackets", "orders", "holdings", "pnl_changes", "pnl_days")


def _book(db: sqlalchemy.Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables a flush writes, as PostgreSQL stores them."""
    with db.connect() as conn:
        return {table: [tuple(row) for row in conn.execute(
                    sqlalchemy.text(f"SELECT * FROM {table} ORDER BY 1, 2"))]
                for table in _TABLES}  # fmt: skip


def _stale_flush(token: int) -> tuple[Flush, list[SavedRow], Known]:
    """A flush of every kind of row: a lineage step and a status change, the update of the
    bracket saved at version 1 (by token 5) with its entry's fill and fee (an order, holdings
    and a P&L change), and a new bracket (its order and holdings), saved with `token`."""
    opened = long(entry("0.005"))
    filled = replace(long(replace(entry(), fee=Decimal("0.04"), fee_currency="USDT")),
                     state=BracketState.OPEN)  # fmt: skip
    second = replace(long(replace(entry(), client_order_id="second-entry")), id=OTHER)
    saves = [Save(filled, NOW, None, 1, token), Save(second, NOW, None, NEW, token)]
    rows, order_rows = bracket_rows((s.bracket, s.at) for s in saves)
    status = {"signal_id": SID, "new_status": "executed", "at": NOW, "reason": "done"}
    known = Known()
    known.saw(opened, 1)
    flush = Flush([step_row(step("stale"))], [status], saves, rows, order_rows)
    return flush, [row_before(opened, 1)], known


@pytest.mark.parametrize("token", [4, 5, 6], ids=["stale", "same", "newer"])
def test_a_stale_fencing_token_fails_the_whole_statement_and_nothing_of_it_lands(
    engine: tuple[sqlalchemy.Engine, RoundTrips],  # noqa: F811
    token: int,
) -> None:
    """Every CTE of the statement runs even when the guarded UPDATE matches no row: the refusal
    raised by its SELECT fails the statement as a whole. A token older than the row's leaves no
    lineage step, status change, bracket, order, holding or P&L change behind; the row's own
    token or a newer one writes them all."""
    db, trips = engine
    signals, store = queued(db), SqlExecutionStore(db)
    signals.add_many([SignalRecord(OTHER, NOW, SignalStatus.QUEUED, alert(), "native", "k2")])
    with store.batch(Fence(KEY, 5)):
        store.save_bracket(long(entry("0.005")), NOW)
    flush, before, known = _stale_flush(token)
    flight = BracketFlight(db, ExecutionStatements(db), HoldingRows(db), known)
    assert flight.one_statement(flush, before)
    was, statements = _book(db), trips.statements()
    written = flight.write(flush, before)
    assert trips.statements() - statements == 1
    now = _book(db)
    if token < 5:
        assert written is None
        assert now == was
    else:
        assert written is not None
        assert [t for t in _TABLES if now[t] == was[t]] == []  # each kind of row was written


def _written(
    db: sqlalchemy.Engine, trips: RoundTrips, foreseen: bool
) -> tuple[dict[str, list[tuple[object, ...]]], int]:
    """The rows a fill of awkward values leaves, and the statements that wrote them: the one
    statement (`foreseen`) or the statements one by one, on an emptied book: 18 decimal
    places, an exponent, a time zone that is not UTC with microseconds, NULLs."""
    with db.begin() as conn:
        conn.execute(sqlalchemy.text(f"TRUNCATE {', '.join(_TABLES)}"))
    signals, store = queued(db), SqlExecutionStore(db)
    at = datetime(2026, 12, 6, 17, 30, 1, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    filled = replace(entry(), amount=Decimal("0.123456789012345678"),
                     filled=Decimal("0.123456789012345678"),
                     average_price=Decimal("98765.432109876543210"), fee=Decimal("1E-18"),
                     fee_currency="USDT")  # fmt: skip
    resting = replace(filled, leg=Leg.TAKE_PROFIT, client_order_id="tp", order_id=None,
                      filled=Decimal(0), average_price=None, fee=Decimal("-0"),
                      fee_currency=None, price=Decimal("1.105E+5"))  # fmt: skip
    bracket = replace(long(filled, resting), opened_at=at, state=BracketState.OPEN)
    statements = trips.statements()
    with store.batch(*([Fence(KEY, 1)] if foreseen else [])):
        store.record(LineageStep(SID, at, "fill", None, {"price": Decimal("0.1")}),
                     status=SignalStatus.EXECUTED)  # fmt: skip
        store.save_bracket(bracket, at)
    statements = trips.statements() - statements
    assert store.bracket(SID) == bracket
    view = signals.get(SID)
    assert view is not None
    assert view.history[-1].at == at
    with db.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT amount::text, fee::text, created_at FROM"
                                            " orders WHERE leg = 'entry'")).one() == (
            "0.123456789012345678", "0.000000000000000001", at)  # fmt: skip
    serial = ("orders", "pnl_changes", "signal_events")  # their ids; a bracket's fencing token
    return {table: [row[1:] if table in serial else row[:-1] if table == "brackets" else row
                    for row in rows] for table, rows in _book(db).items()}, statements  # fmt: skip


def test_the_flush_statement_writes_exactly_what_the_statements_one_by_one_write(
    engine: tuple[sqlalchemy.Engine, RoundTrips],  # noqa: F811
) -> None:
    """Money through JSON text (no float), times with their zone and microseconds, NULLs: the
    rows are those of the careful path, but for their serial ids (and the fencing token, which
    a save outside any holder leaves as it was)."""
    db, trips = engine
    careful, statements = _written(db, trips, foreseen=False)
    assert statements > 1
    assert _written(db, trips, foreseen=True) == (careful, 1)


@pytest.mark.parametrize("read", [False, True], ids=["flush", "account_read"])
def test_a_connection_lost_under_the_one_statement_is_unavailable_and_nothing_is_written(
    engine: tuple[sqlalchemy.Engine, RoundTrips],  # noqa: F811
    read: bool,
) -> None:
    """The flush statement (alone, or sent ahead of the account read) on a connection the
    server ended: `Unavailable` (the job is retried), nothing of it written, its lineage steps
    and status change kept for the next write, which writes them on a new connection."""
    db, _ = engine
    signals, store = queued(db), SqlExecutionStore(db)
    with store.batch(Fence(KEY, 1)):
        store.save_bracket(long(entry()), NOW)
    plain = db.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def lost_batch() -> None:
        with store.batch(Fence(KEY, 2)):
            bracket = store.bracket(SID)
            assert bracket is not None
            with db.connect() as conn:  # the pool's one connection
                pid = conn.execute(sqlalchemy.text("SELECT pg_backend_pid()")).scalar()
            with psycopg.connect(plain, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            store.record(step("lost"), status=SignalStatus.EXECUTED)
            store.save_bracket(replace(bracket, note="lost"), NOW)
            if read:
                store.account_state("default", "BTC/USDT", NOW)

    with pytest.raises(Unavailable):
        lost_batch()
    assert SqlExecutionStore(db).bracket(SID) == long(entry())  # the save is dropped
    view = signals.get(SID)
    assert view is not None
    # after a failed read, the block's end writes what was kept back (the save dropped)
    assert (view.status, len(view.history)) == (("executed", 2) if read else ("queued", 1))
    store.record(step("kept"))
    view = signals.get(SID)
    assert view is not None
    assert (view.status, [c.detail for c in view.history][1:]) == ("executed", ["lost", "kept"])


@pytest.mark.parametrize("count", [SLOTS, SLOTS + 1])
def test_a_flush_of_more_updates_than_the_statement_takes_is_sent_statement_by_statement(
    engine: tuple[sqlalchemy.Engine, RoundTrips],  # noqa: F811
    count: int,
) -> None:
    """`SLOTS` bracket updates and signals' status changes are one statement; one more of each
    goes statement by statement, all written either way."""
    db, trips = engine
    ids = [f"01JX5Z3K8Q4W2N7R9T1V3B5C{n:02d}" for n in range(count)]
    signals, store = SqlSignalStore(db), SqlExecutionStore(db)
    signals.add_many([SignalRecord(i, NOW, SignalStatus.QUEUED, alert(), "native", i)
                      for i in ids])  # fmt: skip
    opened = [replace(long(replace(entry(), client_order_id=f"{i}-entry")), id=i) for i in ids]
    with store.batch(Fence(KEY, 1)):
        for bracket in opened:
            store.save_bracket(bracket, NOW)
    with store.batch(Fence(KEY, 2)):
        for bracket in opened:
            assert store.bracket(bracket.id) == bracket
        statements = trips.statements()
        for bracket in opened:
            store.record(LineageStep(bracket.id, NOW, "note", "done"), status=SignalStatus.EXECUTED)
            store.save_bracket(replace(bracket, state=BracketState.OPEN), NOW)
    assert (trips.statements() - statements == 1) is (count <= SLOTS)
    reader = SqlExecutionStore(db)
    assert [reader.bracket(b.id) for b in opened] == [
        replace(b, state=BracketState.OPEN) for b in opened]  # fmt: skip
    assert {v.status for v in map(signals.get, ids) if v} == {"executed"}
    held = reader.account_state("default", "BTC/USDT", NOW).holdings
    assert [(h.position, h.brackets) for h in held] == [(Decimal("0.010") * count, count)]
