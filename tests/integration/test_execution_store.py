"""The SQL execution store keeps saves and steps back in a batch to write them together: never
past a send, never past the block."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy
from msgspec.structs import replace

from alembic import command
from app.adapters.memory_execution import sum_holdings
from app.adapters.paper.exchange import PaperExchange
from app.adapters.sql.db import SqlSignalStore, make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.brackets.bracket import FINAL, Bracket, BracketState
from app.domain.orders import Leg, OrderRequest, OrderState, OrderStatus, Side
from app.domain.paper.venue import PaperVenue
from app.domain.risk_values import RiskLimits, TradingState
from app.domain.signals import Action, SignalRecord, SignalStatus
from app.domain.sizing import SizingPolicy
from app.ports.execution import (
    Activity,
    Fence,
    Holding,
    LineageStep,
    NoLocks,
    OrderQuery,
    lock_key,
)
from app.services.brackets.monitor import BracketMonitor
from app.services.execution.executor import Executor
from tests.integration.helpers import paper_executor
from tests.integration.test_database import alembic_config
from tests.paper_helpers import book
from tests.unit.test_brackets import entry, long
from tests.unit.test_execution import MARKET, alert
from tests.unit.test_execution_units import World, leg

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


class Witness(PaperExchange):
    """A paper venue that, whenever an order is sent or cancelled, asks the database -- through
    a store of its own -- whether that order is already on record."""

    reader: SqlExecutionStore
    seen: list[tuple[str, str]]

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        self._check(request.client_order_id)
        return await super().create_order(request)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        order = self.venue.order(order_id)
        assert order.client_order_id is not None
        self._check(order.client_order_id)
        return await super().cancel_order(symbol, order_id)

    def _check(self, client_order_id: str) -> None:
        listed = {o.client_order_id: o.state for o in self.reader.orders(OrderQuery(limit=500))}
        assert client_order_id in listed, f"{client_order_id} was sent before it was saved"
        self.seen.append((client_order_id, listed[client_order_id]))


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
async def test_every_order_is_on_record_before_it_is_sent_or_cancelled(
    database: str, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(request.getfixturevalue(database))
    books = {"BTC/USDT": book("99990x1", "100000x1")}
    venue = Witness(PaperVenue("a", [MARKET]), lambda symbol: books[symbol], lambda: NOW)
    venue.reader, venue.seen = SqlExecutionStore(engine), []
    store = SqlExecutionStore(engine)
    executor = Executor(
        store=store, venues={"a": venue}, modes={"a": "paper"}, clock=lambda: NOW,
        locks=NoLocks(), limits=RiskLimits(), sizing=SizingPolicy(),
    )  # fmt: skip
    record = SignalRecord("01JX5Z3K8Q4W2N7R9T1V3B5C00", NOW, SignalStatus.QUEUED, alert(),
                          "native", "k")  # fmt: skip
    SqlSignalStore(engine).add_many([record])
    assert await executor.execute(record.id) is SignalStatus.EXECUTED
    assert [cid[-4:-2] for cid, _ in venue.seen] == ["en", "sl"]
    assert all(state == "submitted" for _, state in venue.seen)

    books["BTC/USDT"] = book("110000x1", "110010x1")  # the target: the monitor cancels the stop
    monitor = BracketMonitor(store=store, venues={"a": venue}, driver=executor.driver,
                             locks=NoLocks())  # fmt: skip
    assert await monitor.run_once() == 1
    assert len(venue.seen) >= 3  # the cancel and the take-profit were checked too
    saved = SqlExecutionStore(engine).bracket(record.id)
    assert saved is not None
    assert str(saved.state) == "closed"
    assert saved.realized_pnl > Decimal(0)
    engine.dispose()


def _bracket(number: int, filled: str, price: str, **changes: object) -> Bracket:
    bracket_id = f"01JX5Z3K8Q4W2N7R9T1V3B5C{number:02d}"
    order = replace(entry(filled, price=price), client_order_id=f"e{number}")
    return replace(long(order), id=bracket_id, **changes)


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
def test_the_account_state_sums_open_brackets_and_reads_the_symbols_last_stop(
    database: str, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(request.getfixturevalue(database))
    try:
        _check_account_state(SqlExecutionStore(engine))
    finally:
        engine.dispose()


def _check_account_state(store: SqlExecutionStore) -> None:
    stop = replace(
        entry("0.010", price="95"), leg=Leg.STOP_LOSS, side=Side.SELL, client_order_id="s4"
    )
    partly_stopped = replace(
        entry("0.004", OrderState.PARTIALLY_FILLED, price="95"),
        leg=Leg.STOP_LOSS, side=Side.SELL, client_order_id="s6",
    )  # fmt: skip
    for bracket in (
        _bracket(1, "0.1", "100"),
        _bracket(2, "0.2", "130"),  # with 1: 0.3 held at 120 on average
        _bracket(3, "0.1", "101", venue="other"),
        _bracket(  # closed by its stop: today's P&L and the symbol's last stop
            4,
            "0.010",
            "100",
            state=BracketState.CLOSED,
            closed_at=NOW,
            realized_pnl=Decimal("-0.05"),
            orders=(entry(), stop),
        ),
        _bracket(5, "0", "0", symbol="ETH/USDT"),  # no fill yet: held 0, no price
        _bracket(
            6,
            "0.010",
            "100",
            symbol="SOL/USDT",
            orders=(replace(entry(), client_order_id="e6"), partly_stopped),
        ),
    ):
        store.save_bracket(bracket, NOW)
    store.set_trading_state(TradingState.REDUCING, NOW, "test")

    state = store.account_state("default", "BTC/USDT", NOW + timedelta(seconds=30))

    held = {(h.venue, h.symbol): h for h in state.holdings}
    btc = "BTC/USDT"
    assert held["paper", btc] == Holding("paper", btc, Side.BUY, Decimal("0.3"), Decimal(120), 2)
    assert held["other", btc] == Holding("other", btc, Side.BUY, Decimal("0.1"), Decimal(101), 1)
    assert held["paper", "ETH/USDT"].position == 0
    assert held["paper", "ETH/USDT"].entry_price is None
    # today's P&L: -0.05 closed by the stop of 4, and -0.02 realized so far by 6's stop, partly
    # filled at 95 (0.004 of 0.010 from 100) while 6 is still open
    assert state.activity == Activity({"USDT": Decimal("-0.07")}, 8, {"BTC/USDT": NOW})
    assert state.trading_state is TradingState.REDUCING
    assert store.account_state("default", "ETH/USDT", NOW).activity.last_stop_loss_at == {}
    sol = store.account_state("default", "SOL/USDT", NOW).activity
    assert sol.last_stop_loss_at == {"SOL/USDT": NOW}


@pytest.mark.parametrize("fenced", [False, True], ids=["unfenced", "fenced"])
@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
def test_the_holdings_rows_follow_every_bracket_save(
    database: str, fenced: bool, request: pytest.FixtureRequest
) -> None:
    """Brackets opened, filled, moved between venues and symbols, closed and failed, one or
    several per transaction: the holdings read equal the open brackets summed afresh. Fenced:
    saved by holders of every key that read them first, as the worker and the monitor save
    (on PostgreSQL, mostly written in one round trip, the holdings moved by sums in SQL)."""
    engine = make_engine(request.getfixturevalue(database))
    store, latest = SqlExecutionStore(engine), {}
    rng = random.Random(7)
    keys = [lock_key(a, s) for a in ("default", "second") for s in ("BTC/USDT", "ETH/USDT")]
    try:
        for round_ in range(80):
            fences = [Fence(key, round_ + 1) for key in keys] if fenced else []
            with store.batch(*fences):  # written in one transaction as the block exits
                if fenced:  # a holder saves what it read (a compare-and-swap)
                    store.brackets_by_id(sorted(latest))
                for _ in range(rng.randint(1, 3)):
                    number = rng.randint(1, 8)
                    bracket = _bracket(
                        number,
                        rng.choice(["0", "0.010", "0.003", "0.007"]),
                        rng.choice(["100", "101.5", "99.25"]),
                        venue=rng.choice(["paper", "other"]),
                        symbol=rng.choice(["BTC/USDT", "ETH/USDT"]),
                        account=rng.choice(["default", "default", "second"]),
                        state=rng.choice([*[BracketState.OPEN] * 4, BracketState.CLOSED,
                                          BracketState.FAILED, BracketState.UNPROTECTED]),
                    )  # fmt: skip
                    store.save_bracket(bracket, NOW)
                    latest[bracket.id] = bracket
            for account in ("default", "second"):
                held = store.account_state(account, "BTC/USDT", NOW).holdings
                assert held == sum_holdings(
                    (b.venue, b.symbol, b.side.value, b.position, b.entry_price)
                    for b in latest.values()
                    if b.account == account and b.state not in FINAL
                )
    finally:
        engine.dispose()


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
def test_the_holdings_migration_fills_them_from_the_open_brackets(
    database: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(database)
    engine = make_engine(url)
    try:
        store = SqlExecutionStore(engine)
        for bracket in (_bracket(1, "0.1", "100"), _bracket(2, "0.2", "130"),
                        _bracket(3, "0.1", "101", state=BracketState.CLOSED)):  # fmt: skip
            store.save_bracket(bracket, NOW)
        before = store.account_state("default", "BTC/USDT", NOW).holdings
        command.downgrade(alembic_config(url), "0006")
        command.upgrade(alembic_config(url), "head")
        assert store.account_state("default", "BTC/USDT", NOW).holdings == before
        assert before == [Holding("paper", "BTC/USDT", Side.BUY, Decimal("0.3"), Decimal(120), 2)]
    finally:
        engine.dispose()


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
async def test_a_unit_of_linked_signals_is_read_back_and_executed_from_sql(
    database: str, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(request.getfixturevalue(database))
    world = World()  # venues a and b, priced for a direct arbitrage
    world.executor = Executor(
        store=SqlExecutionStore(engine), venues=world.venues, modes={"a": "paper", "b": "paper"},
        clock=lambda: NOW, locks=NoLocks(), limits=RiskLimits(), sizing=SizingPolicy(),
    )  # fmt: skip
    legs = [leg(Action.SELL, "b", "100600", 1), leg(Action.BUY, "a", "100000", 0)]
    records = [
        SignalRecord(
            f"01JX5Z3K8Q4W2N7R9T1V3B5C5{n}", NOW, SignalStatus.QUEUED, s, "strategy", f"u{n}"
        )
        for n, s in enumerate(legs)
    ]  # the sell arrives first: legs are placed in leg order all the same
    SqlSignalStore(engine).add_many(records)

    statuses = await world.executor.execute_many([r.id for r in records])

    assert set(statuses.values()) == {SignalStatus.EXECUTED}
    store = SqlExecutionStore(engine)
    assert [p.signal.link.leg for p in store.unit("arb-1") if p.signal.link] == [0, 1]
    assert (world.btc("a"), world.btc("b")) == (Decimal("0.0050"), Decimal(0))
    assert all(store.bracket(r.id).state is BracketState.CLOSED for r in records)  # type: ignore[union-attr]
    engine.dispose()


# --- the unit of work ---------------------------------------------------------------------------


class WriterAndReader:
    """A store that writes, and a second one on the same engine that reads (its reads do not
    write the first one's saves), over a signal with an empty lineage."""

    signal_id = "01JX5Z3K8Q4W2N7R9T1V3B5C90"

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self.store, self.reader = SqlExecutionStore(engine), SqlExecutionStore(engine)
        self.signals = SqlSignalStore(engine)
        self.signals.add_many(
            [SignalRecord(self.signal_id, NOW, SignalStatus.QUEUED, alert(), "native", "k")]
        )

    def saved(self, *numbers: int) -> bool:
        ids = [_bracket(n, "0.1", "100").id for n in numbers]
        return [b.id for b in self.reader.brackets_by_id(ids)] == ids

    def none_saved(self, *numbers: int) -> bool:
        return not self.reader.brackets_by_id([_bracket(n, "0.1", "100").id for n in numbers])

    def save(self, number: int) -> None:
        self.store.save_bracket(_bracket(number, "0.1", "100"), NOW)

    def step(self, name: str) -> None:
        self.store.record(LineageStep(self.signal_id, NOW, name, "a step"))

    def steps(self) -> list[str]:
        view = self.signals.get(self.signal_id)
        assert view is not None
        return [change.status for change in view.history][1:]  # after "queued"


@pytest.fixture
def stores(database: str) -> Iterator[WriterAndReader]:
    engine = make_engine(database)
    yield WriterAndReader(engine)
    engine.dispose()


def test_a_save_and_a_step_in_a_batch_are_written_when_the_block_exits(
    stores: WriterAndReader,
) -> None:
    with stores.store.batch():
        stores.save(1)
        stores.step("sizing")
        assert stores.none_saved(1)
        assert stores.steps() == []
    assert stores.saved(1)
    assert stores.steps() == ["sizing"]


def test_a_batch_that_raises_still_writes_what_it_kept_back(stores: WriterAndReader) -> None:
    def fail_in_a_batch() -> None:
        with stores.store.batch():
            stores.save(1)
            stores.step("order")
            raise RuntimeError("venue gone")

    with pytest.raises(RuntimeError, match="venue gone"):
        fail_in_a_batch()
    assert stores.saved(1)
    assert stores.steps() == ["order"]


def test_leaving_a_nested_batch_writes_what_the_enclosing_one_kept_back(
    stores: WriterAndReader,
) -> None:
    with stores.store.batch():
        stores.save(1)
        stores.step("route")
        with stores.store.batch():  # as right before an order is sent
            stores.save(2)
        assert stores.saved(1, 2)
        assert stores.steps() == ["route"]
        stores.save(3)
        assert stores.none_saved(3)
    assert stores.saved(1, 2, 3)


def test_outside_a_batch_a_save_and_a_step_are_written_at_once(stores: WriterAndReader) -> None:
    stores.save(1)
    assert stores.saved(1)
    stores.step("close")
    assert stores.steps() == ["close"]


async def test_a_batch_of_one_task_holds_back_no_write_of_another(stores: WriterAndReader) -> None:
    """The tasks of one worker share its store: a save made outside any batch is written at
    once even while another task (another account and symbol) is inside its own."""
    inside, done = asyncio.Event(), asyncio.Event()

    async def batching() -> None:
        with stores.store.batch():
            stores.save(1)
            inside.set()
            await done.wait()

    task = asyncio.create_task(batching())
    await inside.wait()
    stores.save(2)
    assert stores.saved(2)
    done.set()
    await task
    assert stores.saved(1, 2)


async def test_an_entry_signal_is_written_in_three_transactions(database: str) -> None:
    """The saves, steps and status of one entry are kept back and written at three points: the
    bracket before its entry is sent, before its stop-loss is sent, and as the block is left."""
    engine = make_engine(database)
    executor = paper_executor(engine, NOW)
    record = SignalRecord("01JX5Z3K8Q4W2N7R9T1V3B5C00", NOW, SignalStatus.QUEUED, alert(),
                          "native", "k")  # fmt: skip
    SqlSignalStore(engine).add_many([record])
    transactions = Transactions(engine)
    try:
        assert await executor.execute(record.id) is SignalStatus.EXECUTED
    finally:
        engine.dispose()
    assert transactions.writes == 3
    # the job's signals, the queue, the account (PostgreSQL: the queue with the account); the
    # outcome is the one the job gave it
    assert transactions.reads == (2 if database.startswith("postgresql") else 3)


class Transactions:
    """Counts an engine's transactions: those that write, and those that only read."""

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self.writes = self.reads = 0
        self._writing: bool | None = None
        sqlalchemy.event.listen(engine, "begin", self._begin)
        sqlalchemy.event.listen(engine, "before_cursor_execute", self._statement)
        sqlalchemy.event.listen(engine, "commit", self._end)

    def _begin(self, conn: Any) -> None:
        self._writing = False

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self._writing is not None and statement.split(maxsplit=1)[0].upper() != "SELECT":
            self._writing = True

    def _end(self, conn: Any) -> None:
        if self._writing is not None:
            self.writes += self._writing
            self.reads += not self._writing
        self._writing = None
