"""PostgreSQL round trips: a transaction's statements travel together (`app.adapters.sql.flights`),
and a flush whose saves the store foresees is one round trip (`bracket_flight`). Counted from
libpq's trace of the protocol, on the PostgreSQL the tests run against."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
from msgspec.structs import replace

from app.adapters.paper.exchange import PaperExchange
from app.adapters.paper.store import SqlPaperStore
from app.adapters.sql import flights
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.brackets.bracket import BracketState
from app.domain.execution_policy import EntryPolicy, ExecutionPolicy
from app.domain.orders import OrderKind, OrderRequest, OrderState, Side
from app.domain.signals import SignalRecord, SignalStatus
from app.ports.errors import StaleBracket, Unavailable
from app.ports.execution import Fence, LineageStep, lock_key
from tests.integration.helpers import paper_executor
from tests.integration.round_trips import RoundTrips
from tests.paper_helpers import book
from tests.unit.test_brackets import SID, entry, long
from tests.unit.test_execution import MARKET, alert

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
KEY = lock_key("default", "BTC/USDT")


@pytest.fixture
def engine(postgres_url: str, tmp_path: Path) -> Iterator[tuple[sqlalchemy.Engine, RoundTrips]]:
    engine = make_engine(postgres_url)
    trips = RoundTrips(engine, tmp_path)
    yield engine, trips
    engine.dispose()


def step(detail: str) -> LineageStep:
    return LineageStep(SID, NOW, "note", detail)


def queued(db: sqlalchemy.Engine) -> SqlSignalStore:
    """The signals store, holding the signal `SID` (whose lineage the steps join)."""
    signals = SqlSignalStore(db)
    signals.add_many([SignalRecord(SID, NOW, SignalStatus.QUEUED, alert(), "native", "k")])
    return signals


def test_a_flush_the_store_foresees_is_one_round_trip(
    engine: tuple[sqlalchemy.Engine, RoundTrips],
) -> None:
    """A holder saves a bracket it read, with lineage steps and a status change: one round
    trip, COMMIT included. A save outside any holder reads its row first."""
    db, trips = engine
    signals, store = queued(db), SqlExecutionStore(db)
    with store.batch(Fence(KEY, 1)):
        store.save_bracket(long(entry()), NOW)  # new: foreseen too (an INSERT)
    with store.batch(Fence(KEY, 2)):
        bracket = store.bracket(SID)
        assert bracket is not None
        before = trips.total()
        store.record(step("one"))
        store.record(step("two"), status=SignalStatus.EXECUTED)
        store.save_bracket(replace(bracket, state=BracketState.OPEN), NOW)
    assert trips.total() - before == 1
    reader = SqlExecutionStore(db)
    assert reader.bracket(SID) == replace(bracket, state=BracketState.OPEN)
    assert [h.brackets for h in reader.account_state("default", "BTC/USDT", NOW).holdings] == [1]
    view = signals.get(SID)
    assert view is not None
    assert (view.status, [c.detail for c in view.history][1:]) == ("executed", ["one", "two"])

    before = trips.total()
    store.save_bracket(replace(bracket, state=BracketState.CLOSED), NOW)
    assert trips.total() - before > 1
    assert reader.account_state("default", "BTC/USDT", NOW).holdings == []


def test_the_account_is_read_in_one_statement(
    engine: tuple[sqlalchemy.Engine, RoundTrips],
) -> None:
    """Holdings, resting entries, activity, today's P&L, brackets in doubt and the reserved
    entries on record: one statement, which sees one view of the book without a transaction
    around it (no BEGIN, no COMMIT), in one round trip."""
    db, trips = engine
    store = SqlExecutionStore(db)
    store.save_bracket(long(entry()), NOW)
    reader = SqlExecutionStore(db)
    before, statements = trips.total(), trips.statements()
    state = reader.account_state("default", "BTC/USDT", NOW, reserved=[SID, "other"])
    assert (trips.total() - before, trips.statements() - statements) == (1, 1)
    assert [(h.symbol, h.brackets) for h in state.holdings] == [("BTC/USDT", 1)]
    assert state.on_record == {SID}


def test_saves_kept_back_go_ahead_of_the_account_read_as_one_statement(
    engine: tuple[sqlalchemy.Engine, RoundTrips],
) -> None:
    """A holder's kept-back save and steps, written ahead of its account read: one round trip
    of two statements, the flush turning the commit asynchronous itself (it was five: BEGIN,
    SET, the flush, COMMIT, the read), which the read sees."""
    db, trips = engine
    signals, store = queued(db), SqlExecutionStore(db)
    store.save_bracket(long(entry()), NOW)
    with store.batch(Fence(KEY, 1)):
        bracket = store.bracket(SID)
        assert bracket is not None
        store.record(step("kept"))
        store.save_bracket(replace(bracket, note="kept back"), NOW)
        store.save_bracket(replace(bracket, id="01KA0000000000000000000099"), NOW)  # new
        before, statements = trips.total(), trips.statements()
        state = store.account_state("default", "BTC/USDT", NOW)
        assert (trips.total() - before, trips.statements() - statements) == (1, 2)
    assert [h.brackets for h in state.holdings] == [2]  # the new one's seen
    assert SqlExecutionStore(db).bracket(SID) == replace(bracket, note="kept back")
    view = signals.get(SID)
    assert view is not None
    assert [c.detail for c in view.history][1:] == ["kept"]
    with db.connect() as conn:  # the asynchronous commit was the flush's own
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_a_flushs_lineage_steps_are_one_statement(
    engine: tuple[sqlalchemy.Engine, RoundTrips],
) -> None:
    """The driver's work and the server's are per statement: a flush's steps are written by one
    statement (the flush's own, `flush_statement`), every value as written one by one."""
    db, _ = engine
    signals, store = queued(db), SqlExecutionStore(db)
    sent: list[str] = []

    def inserts(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "INSERT INTO signal_events" in statement:
            sent.append(statement)

    sqlalchemy.event.listen(db, "before_cursor_execute", inserts)
    details = [f"step {n}" for n in range(40)]  # more than one INSERT of VALUES holds
    with store.batch(Fence(KEY, 1)):
        for detail in details:
            store.record(replace(step(detail), data={"amount": "0.01", "n": [1, 2]}))
    assert len(sent) == 1
    view = signals.get(SID)
    assert view is not None
    assert [c.detail for c in view.history][1:] == details
    assert {str(c.data) for c in view.history[1:]} == {str({"amount": "0.01", "n": [1, 2]})}


def test_a_save_refused_in_one_round_trip_is_refused_by_the_careful_path_and_the_rest_written(
    engine: tuple[sqlalchemy.Engine, RoundTrips],
) -> None:
    """The stale holder's store foresees its save (it read the bracket at the version it
    expects); the guarded UPDATE matches no row, the transaction fails, and the flush is
    written again the careful way: the save refused, its step written."""
    db, _ = engine
    signals = queued(db)
    stale, newer = SqlExecutionStore(db), SqlExecutionStore(db)
    stale.save_bracket(long(entry()), NOW)
    bracket = stale.bracket(SID)
    assert bracket is not None

    def stale_batch() -> None:
        with stale.batch(Fence(KEY, 1)):
            assert stale.bracket(SID) == bracket  # read at the version it then expects
            with newer.batch(Fence(KEY, 2)):
                found = newer.bracket(SID)
                assert found is not None
                newer.save_bracket(replace(found, note="newer"), NOW)
            stale.record(step("kept"))
            stale.save_bracket(replace(bracket, note="stale"), NOW)

    with pytest.raises(StaleBracket, match="saved again since"):
        stale_batch()
    assert newer.bracket(SID) == replace(bracket, note="newer")
    view = signals.get(SID)
    assert view is not None
    assert [c.detail for c in view.history][1:] == ["kept"]


async def test_a_paper_venue_save_is_one_round_trip(
    engine: tuple[sqlalchemy.Engine, RoundTrips],
) -> None:
    """An order on a paper venue: its order, balances, fill and the next order number saved
    in one round trip, as one statement (it was seven: BEGIN, the asynchronous commit's SET,
    four writes and COMMIT)."""
    db, trips = engine
    books = {"BTC/USDT": book("99990x1", "100000x1")}
    venue = PaperExchange.open("a", [MARKET], lambda symbol: books[symbol], lambda: NOW,
                               SqlPaperStore(db), {"USDT": Decimal(100_000)})  # fmt: skip
    request = OrderRequest("c1", "BTC/USDT", Side.BUY, OrderKind.MARKET, Decimal("0.01"))
    before, sent = trips.total(), trips.statements()
    status = await venue.create_order(request)
    assert (trips.total() - before, trips.statements() - sent) == (1, 1)
    with db.connect() as conn:  # the save's asynchronous commit was its own transaction's
        assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    assert status.state is OrderState.FILLED
    reopened = SqlPaperStore(db)
    saved = reopened.order_by_client_id("a", "c1")
    assert saved is not None
    assert (saved.state, saved.filled) == (OrderState.FILLED, Decimal("0.01"))
    state = reopened.load("a")
    assert state is not None
    assert state.next_order_number == 2
    assert {b.asset: b.free for b in state.balances} == {
        "USDT": Decimal(100_000) - saved.cost - saved.fee,  # the fee in quote
        "BTC": Decimal("0.01"),
    }
    [fill] = state.fills
    assert (fill.client_order_id, fill.price, fill.at) == ("c1", Decimal(100_000), NOW)


@pytest.mark.parametrize(
    ("keys", "made"), [(None, 5), ({SID: ("default", "BTC/USDT")}, 4)], ids=["read", "named"]
)
async def test_an_entry_signal_makes_five_round_trips_four_when_its_job_names_its_key(
    engine: tuple[sqlalchemy.Engine, RoundTrips],
    keys: dict[str, tuple[str, str]] | None,
    made: int,
) -> None:
    """The job's signals (not read when the job names each one's account and symbol, as the
    forwarder's jobs do); the queue of its account and symbol with the account (holdings,
    resting entries, activity, brackets in doubt: one view); the bracket before its entry is
    sent; before its stop-loss is sent; the signal's outcome as the block is left."""
    db, trips = engine
    executor = paper_executor(db, NOW)
    record = SignalRecord(SID, NOW - timedelta(seconds=1), SignalStatus.QUEUED, alert(),
                          "native", "k")  # fmt: skip
    SqlSignalStore(db).add_many([record])
    before = trips.total()
    assert await executor.execute_many([SID], keys) == {SID: SignalStatus.EXECUTED}
    assert trips.total() - before == made


async def test_queued_entry_signals_make_three_round_trips_each(
    engine: tuple[sqlalchemy.Engine, RoundTrips],
) -> None:
    """Three queued entries of one account and symbol in one job: after the job's signals and
    the queue (with the account, for the first), three round trips each (the account, with what
    the previous one left kept back, but for the first; the bracket before its entry is sent;
    before its stop-loss is sent), and the last one's outcome as the block is left."""
    db, trips = engine
    executor = paper_executor(
        db, NOW, depth=5, policy=ExecutionPolicy(entry_policy=EntryPolicy.ADD)
    )
    ids = [f"01JX5Z3K8Q4W2N7R9T1V3B5C{n:02d}" for n in range(3)]
    SqlSignalStore(db).add_many([
        SignalRecord(i, NOW - timedelta(seconds=1), SignalStatus.QUEUED, alert(), "native", i)
        for i in ids
    ])  # fmt: skip
    before = trips.total()
    outcome = await executor.execute_many(ids)
    assert trips.total() - before == 2 + 3 * 3 - 1 + 1
    assert set(outcome.values()) == {SignalStatus.EXECUTED}
    held = SqlExecutionStore(db).account_state("default", "BTC/USDT", NOW).holdings
    assert [h.brackets for h in held] == [3]


def test_a_batch_of_signals_is_kept_in_one_round_trip(
    engine: tuple[sqlalchemy.Engine, RoundTrips],
) -> None:
    """The forwarder's batch: the signals and their first lineage step, once each, in one
    statement, a transaction of its own (no BEGIN, no COMMIT: three statements before)."""
    db, trips = engine
    store = SqlSignalStore(db)
    store.ping()  # the connection is open
    ids = [f"01JX5Z3K8Q4W2N7R9T1V3B5C{n:02d}" for n in range(3)]
    records = [SignalRecord(i, NOW, SignalStatus.QUEUED, alert(), "native", i) for i in ids]
    before, statements = trips.total(), trips.statements()
    store.add_many(records)
    assert (trips.total() - before, trips.statements() - statements) == (1, 1)
    store.add_many(records[1:])  # forwarded again: kept once
    for signal_id in ids:
        view = store.get(signal_id)
        assert view is not None
        assert [change.status for change in view.history] == ["queued"]


def test_a_database_not_migrated_to_the_refusal_function_is_written_the_careful_way(
    engine: tuple[sqlalchemy.Engine, RoundTrips], caplog: pytest.LogCaptureFixture
) -> None:
    """Code newer than the schema (a deploy's overlap): saves read their rows first, said once."""
    db, _ = engine
    with db.begin() as conn:
        conn.execute(sqlalchemy.text("DROP FUNCTION signalgate_refuse_save(text)"))
    store = SqlExecutionStore(db)
    with store.batch(Fence(KEY, 1)):
        store.save_bracket(long(entry()), NOW)
    with store.batch(Fence(KEY, 2)):
        bracket = store.bracket(SID)
        assert bracket is not None
        store.save_bracket(replace(bracket, note="saved"), NOW)
    found = SqlExecutionStore(db).bracket(SID)
    assert found is not None
    assert found.note == "saved"
    assert caplog.text.count("no signalgate_refuse_save()") == 1


@pytest.mark.parametrize("idle", [False, True], ids=["in_use", "idle"])
def test_a_connection_the_server_dropped_fails_one_transaction_at_most(
    engine: tuple[sqlalchemy.Engine, RoundTrips], idle: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled connection the server ended (a restart, a failover): pinged and replaced when it
    lay idle; else its transaction fails as `Unavailable` (the job is retried) and the next one
    gets a new connection."""
    db, _ = engine
    store = SqlExecutionStore(db)
    store.save_bracket(long(entry()), NOW)
    with db.connect() as conn:
        pid = conn.execute(sqlalchemy.text("SELECT pg_backend_pid()")).scalar()
    plain = db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    if idle:
        monkeypatch.setattr(flights, "PING_AFTER_IDLE_S", 0.0)
        assert store.bracket(SID) == long(entry())
    else:
        with pytest.raises(Unavailable):
            store.save_bracket(replace(long(entry()), note="lost"), NOW)
    store.save_bracket(replace(long(entry()), note="kept"), NOW)
    found = store.bracket(SID)
    assert found is not None
    assert found.note == "kept"


def test_a_stale_save_sent_ahead_of_the_account_read_is_refused_and_the_rest_written(
    engine: tuple[sqlalchemy.Engine, RoundTrips],
) -> None:
    """The stale holder's kept-back saves go ahead of its account read: refused there, they are
    written the careful way before the read, which refuses the stale one and writes the rest."""
    db, _ = engine
    signals = queued(db)
    stale, newer = SqlExecutionStore(db), SqlExecutionStore(db)
    stale.save_bracket(long(entry()), NOW)
    other = replace(long(entry()), id="01KA0000000000000000000099")

    def stale_batch() -> None:
        with stale.batch(Fence(KEY, 1)):
            bracket = stale.bracket(SID)
            assert bracket is not None
            with newer.batch(Fence(KEY, 2)):
                found = newer.bracket(SID)
                assert found is not None
                newer.save_bracket(replace(found, note="newer"), NOW)
            stale.record(step("kept"))
            stale.save_bracket(other, NOW)  # new: nobody else saved it
            stale.save_bracket(replace(bracket, note="stale"), NOW)
            stale.account_state("default", "BTC/USDT", NOW)

    with pytest.raises(StaleBracket, match="saved again since"):
        stale_batch()
    reader = SqlExecutionStore(db)
    assert reader.bracket(SID) == replace(long(entry()), note="newer")
    assert reader.bracket(other.id) == other
    view = signals.get(SID)
    assert view is not None
    assert [c.detail for c in view.history][1:] == ["kept"]


def test_the_account_read_with_a_keys_queue_serves_its_first_read_only_if_nothing_was_sent(
    engine: tuple[sqlalchemy.Engine, RoundTrips],
) -> None:
    """A key's run reads its queue and the account in one round trip; the first signal's read
    of the account takes that one, a later read or one after an order was sent reads anew."""
    db, trips = engine
    queued(db)
    ctx = paper_executor(db, NOW)._ctx
    before = trips.total()
    [pending] = list(ctx.queued("default", "BTC/USDT", SID))
    assert pending.id == SID
    assert trips.total() - before == 1
    ctx.account("default", "BTC/USDT")
    assert trips.total() - before == 1  # the run's first read: taken
    ctx.account("default", "BTC/USDT")
    assert trips.total() - before == 2  # taken once only

    list(ctx.queued("default", "BTC/USDT", SID))
    ctx.driver.sent += 1  # an order or a cancel went to a venue since (a reverse's closing)
    ctx.account("default", "BTC/USDT")
    assert trips.total() - before == 4
