"""`ExecutionStore` in SQL: brackets with their orders, lineage steps and the trading controls.

Lineage steps, status changes and bracket saves made in a batch (`SqlExecutionStore.batch`) are
kept back and written together, in one transaction, when a batch is left, before an order is
sent (`BracketDriver.create`), or before a read that needs them: two or three transactions per
entry signal. A save in a batch opened with the holder's fences is a compare-and-swap on the
bracket's version and fencing token (`ExecutionStore.batch`, `bracket_saves`) in the transaction
that writes it: a refused save is left out, the rest written, and `StaleBracket` raised to its
holder there, or at its next save or flush when another task's flush wrote it. On PostgreSQL, a
flush whose saves the store foresees (it read or wrote each bracket at the version its save
expects) is one round trip (`bracket_flight`); any other, or one refused there, reads the rows
first; a key's queue and the account are read in one (`pending_and_account`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError

from app.adapters.bracket_holders import holder_of, holding
from app.adapters.sql.account_reads import AccountReads
from app.adapters.sql.account_statement import AccountStatement
from app.adapters.sql.activity import TRADING
from app.adapters.sql.bracket_flight import BracketFlight, Check, Known, nothing
from app.adapters.sql.bracket_saves import CarefulSaves, Compared, Flush, Save, send_lineage
from app.adapters.sql.db import dialect_insert, transaction
from app.adapters.sql.execution_rows import (
    bracket_rows,
    order_view,
    orders_query,
    pending_signal,
    short,
    signal_states,
    step_row,
    unit_legs,
)
from app.adapters.sql.execution_statements import ExecutionStatements
from app.adapters.sql.holdings import HoldingRows, SavedRow
from app.adapters.sql.tables_execution import brackets, controls
from app.domain.accounts import stricter
from app.domain.brackets.bracket import Bracket
from app.domain.risk_values import TradingState
from app.domain.signals import SignalStatus
from app.ports.execution import (
    AccountState,
    Fence,
    LineageStep,
    OrderQuery,
    OrderView,
    PendingSignal,
    SignalState,
)

# The stores with a batch open in this context (a task, or a thread): a store is shared by
# the tasks of one worker, and one task's batch must not hold back the writes another task makes
# outside any batch (they are written at once, under that task's own lock).
_batches: ContextVar[tuple[object, ...]] = ContextVar("sql_execution_batches", default=())


class SqlExecutionStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._snapshots = (  # read-only: a repeatable read never fails to serialize
            engine.execution_options(isolation_level="REPEATABLE READ")
            if engine.dialect.name == "postgresql"
            else engine
        )
        self._insert = dialect_insert(engine)
        self._steps: list[dict[str, Any]] = []  # lineage steps not written yet
        self._statuses: list[dict[str, Any]] = []  # status changes not written yet
        self._saves: dict[str, Save] = {}  # brackets not written yet
        self._sql = ExecutionStatements(engine)
        self._holdings = HoldingRows(engine)  # kept up to date by every bracket save
        self._account = AccountReads(engine, self._holdings)
        # PostgreSQL: the account in one statement, which sees one view of the book on its own
        self._one_read = AccountStatement(engine) if engine.dialect.name == "postgresql" else None
        self.reads_together = self._one_read is not None  # the queue and the account
        self._careful = CarefulSaves(engine, self._sql, self._holdings)
        self._known = Known()  # what the brackets' rows hold, as this store read or wrote them
        self._flight = (
            BracketFlight(engine, self._sql, self._holdings, self._known)
            if engine.dialect.name == "postgresql"
            else None
        )

    # --- the unit of work ---------------------------------------------------------------------

    @contextmanager
    def batch(self, *fences: Fence) -> Iterator[None]:
        with holding(self, fences):
            opened = _batches.set((*_batches.get(), self))
            try:
                yield
            finally:
                _batches.reset(opened)
                self._write_kept_back()

    def _batching(self) -> bool:
        return self in _batches.get()  # by identity: a store has no equality of its own

    def _write_kept_back(self) -> None:
        """Write what is kept back; raise a refusal of this context's holder's saves."""
        if self._steps or self._statuses or self._saves:
            self._flush()
        if (holder := holder_of(self)) is not None:
            holder.raise_refused()

    def _flush(self, also: Callable[[Connection], object] | None = None) -> None:
        """Write the waiting lineage steps, status changes and bracket saves in one
        transaction (and `also` in it).

        On failure the steps and status changes are kept for the next write, the saves dropped:
        a bracket is saved under its account-and-symbol lock, and a save written after the lock
        is gone could overwrite a newer one (what the venue did is read back by the monitor
        anyway). Saves refused by their rows are left out and the rest written (`StaleBracket`
        is raised to their holders: this context's after the commit).
        """
        self._write(self._take(), also)

    def _write(
        self,
        flush: Flush,
        also: Callable[[Connection], object] | None = None,
        *,
        careful: bool = False,
    ) -> None:
        """`_flush` of `flush` (`careful`: the saves' rows read first, whatever the store
        foresees)."""
        flight = None if also is not None or careful else self._flight
        try:
            before = None if flight is None else flight.foreseen(flush.saves)
            compared = None if flight is None or before is None else flight.write(flush, before)
            if compared is None:
                with transaction(self._engine, write=True) as conn:
                    send_lineage(self._sql, conn, flush)
                    if flush.saves:
                        compared = self._careful.write(conn, flush)
                    if also is not None:
                        also(conn)
        except BaseException:
            self._put_back(flush)
            raise
        self._settle(compared)

    def _take(self) -> Flush:
        """Everything kept back, taken to be written (the rows made before any lock is taken)."""
        steps, self._steps = self._steps, []
        statuses, self._statuses = self._statuses, []
        saves, self._saves = list(self._saves.values()), {}
        rows, order_rows = bracket_rows((s.bracket, s.at) for s in saves)
        return Flush(steps, statuses, saves, rows, order_rows)

    def _put_back(self, flush: Flush) -> None:
        """After a failed write: its steps and status changes wait for the next (`_flush`)."""
        self._steps = flush.steps + self._steps
        self._statuses = flush.statuses + self._statuses

    def _settle(self, compared: Compared | None) -> None:
        if compared is not None:
            for save, version in compared.written:
                self._known.saw(save.bracket, version)
            compared.settle()
        if (holder := holder_of(self)) is not None:
            holder.raise_refused()

    def _reading(self, *, statuses: bool = False) -> AbstractContextManager[Connection]:
        """A read that sees this store's own saves (and `statuses`: status changes): they are
        written first."""
        if self._saves or (statuses and self._statuses):
            self._write_kept_back()
        return transaction(self._engine, reads=True)

    @contextmanager
    def _snapshot(
        self, ahead: Callable[[Connection], object] | None = None
    ) -> Iterator[Connection]:
        """`_reading`, every statement seeing the database as of the first: PostgreSQL's read
        committed gives each statement its own view, and so does SQLite, where the driver runs
        a SELECT outside any transaction unless one is begun. `ahead`: the kept-back saves,
        sent ahead (`transaction`)."""
        if self._saves:
            self._write_kept_back()
        with transaction(self._snapshots, ahead=ahead) as conn:
            if conn.dialect.name == "sqlite":  # on the driver's connection, as BEGIN IMMEDIATE is
                conn.connection.dbapi_connection.execute("BEGIN")  # type: ignore[union-attr]
            yield conn

    # --- signals ------------------------------------------------------------------------------

    def signal(self, signal_id: str) -> PendingSignal | None:
        with self._reading(statuses=True) as conn:
            answer = self._sql.one_signal.ask(conn, {"id": signal_id})
        rows = answer.rows()
        return pending_signal(*rows[0]) if rows else None

    def states(self, signal_ids: Sequence[str]) -> dict[str, SignalState]:
        ids = list(dict.fromkeys(signal_ids))
        if not ids:
            return {}
        with self._reading(statuses=True) as conn:
            values = {f"id{n}": signal_id for n, signal_id in enumerate(ids)}
            answer = self._sql.states(len(ids)).ask(conn, values)
        return signal_states(answer.rows())

    def unit(self, unit_id: str) -> list[PendingSignal]:
        with self._reading(statuses=True) as conn:
            answer = self._sql.unit.ask(conn, {"unit": unit_id})
        return unit_legs(answer.rows())

    def pending(self, account: str, symbol: str, up_to: str) -> list[PendingSignal]:
        values = {"account": account, "symbol": symbol, "up_to": up_to}
        with self._reading(statuses=True) as conn:
            answer = self._sql.pending.ask(conn, values)
        return [pending_signal(*row) for row in answer.rows()]

    def pending_and_account(
        self, account: str, symbol: str, up_to: str, now: datetime, reserved: Collection[str]
    ) -> tuple[list[PendingSignal], AccountState]:
        """In one round trip on PostgreSQL (`reads_together`)."""
        if self._one_read is None:
            queue = self.pending(account, symbol, up_to)
            return queue, self.account_state(account, symbol, now, reserved)
        values = {"account": account, "symbol": symbol, "up_to": up_to}
        with self._reading(statuses=True) as conn:  # what is kept back is written first
            queued = self._sql.pending.ask(conn, values)
            answers = self._one_read.ask(conn, account, symbol, now, reserved)
        return [pending_signal(*row) for row in queued.rows()], answers()

    def record(self, step: LineageStep, *, status: SignalStatus | None = None) -> None:
        """Kept back in a batch with its status change, if any (written with the next save,
        or when the batch is left: one transaction instead of one each)."""
        self._steps.append(step_row(step))
        if status is not None:
            self._statuses.append({"signal_id": step.signal_id, "new_status": status.value,
                                   "at": step.at, "reason": short(step.detail, 500)})  # fmt: skip
        if not self._batching():
            self._write_kept_back()

    # --- brackets -----------------------------------------------------------------------------

    def save_bracket(self, bracket: Bracket, at: datetime) -> None:
        """Kept back in a batch until it is left, or the next write or read (the latest save of
        a bracket wins). In a holder's batch, a compare-and-swap (`ExecutionStore.batch`)."""
        holder = holder_of(self)
        save = Save(bracket, at)
        if holder is not None:
            holder.check(bracket.id)
            kept = self._saves.get(bracket.id)
            if kept is not None and kept.holder is not holder:  # another holder's: its own CAS
                self._write_kept_back()
            save = Save(bracket, at, holder, holder.expected(bracket.id), holder.token(bracket))
        self._saves[bracket.id] = save
        if not self._batching():
            self._write_kept_back()

    def _seen(self, rows: Sequence[Any]) -> list[Bracket]:
        """The brackets of `rows` (data, version), their versions noted by this context's
        holder, if any: its saves of them are compared with these."""
        holder = holder_of(self)
        found = []
        for data, version in rows:
            bracket = msgspec.convert(data, Bracket)
            if holder is not None:
                holder.saw(bracket.id, version)
            self._known.saw(bracket, version)
            found.append(bracket)
        return found

    def bracket(self, bracket_id: str) -> Bracket | None:
        with self._reading() as conn:
            answer = self._sql.bracket.ask(conn, {"id": bracket_id})
        return next(iter(self._seen(answer.rows())), None)

    def open_bracket_versions(self) -> dict[str, object]:
        """(Every open bracket: what this store knows of the others is forgotten.)"""
        with self._reading() as conn:
            answer = self._sql.open_versions.ask(conn)
        versions = dict(answer.rows())
        self._known.keep_only(versions)
        return versions

    def brackets_by_id(self, bracket_ids: Sequence[str]) -> list[Bracket]:
        if not bracket_ids:
            return []
        query = select(brackets.c.data, brackets.c.version).where(
            brackets.c.id.in_(list(bracket_ids))
        )
        with self._reading() as conn:
            rows = conn.execute(query.order_by(brackets.c.id)).all()
        return self._seen(rows)

    def open_brackets(self, account: str | None = None, symbol: str | None = None) -> list[Bracket]:
        values = {"account": account, "symbol": symbol}
        with self._reading() as conn:
            answer = self._sql.open_brackets(account, symbol).ask(
                conn, {k: v for k, v in values.items() if v is not None}
            )
        return self._seen(answer.rows())

    def account_state(
        self, account: str, symbol: str, now: datetime, reserved: Collection[str] = ()
    ) -> AccountState:
        # The saves kept back are written first (the account includes them): on PostgreSQL,
        # when they can be foreseen, in the same round trip as the read.
        foreseen = None
        before = self._flight.foreseen(self._saves.values()) if self._flight else None
        if self._saves and before is not None:
            foreseen = (self._take(), before)
        try:
            state, check = self._account_state(account, symbol, now, reserved, foreseen)
        except DBAPIError as error:
            if foreseen is None or self._flight is None:
                raise
            if not self._flight.declined(error):
                self._put_back(foreseen[0])
                raise
            # written the careful way (which refuses what it must) before the read
            self._write(foreseen[0], careful=True)
            state, check = self._account_state(account, symbol, now, reserved, None)
        except BaseException:
            if foreseen is not None:
                self._put_back(foreseen[0])
            raise
        else:
            if foreseen is not None:
                check()
                self._settle(self._flight.written(foreseen[0]) if self._flight else None)
        return state

    def _account_state(
        self,
        account: str,
        symbol: str,
        now: datetime,
        reserved: Collection[str],
        foreseen: tuple[Flush, list[SavedRow]] | None,
    ) -> tuple[AccountState, Check]:
        checks: list[Check] = []
        # one statement that makes the commit asynchronous itself, when the flush can be
        flight = self._flight
        alone = foreseen is not None and flight is not None and flight.one_statement(*foreseen)

        def ahead(conn: Connection) -> None:
            assert self._flight is not None
            assert foreseen is not None
            checks.append(self._flight.send(conn, *foreseen, alone, quick=True))

        # One view of the book for every statement: an entry moves from reserved to resting to
        # held, and one recorded, then filled, between two statements read at their own times
        # would be counted by none of them (or twice).
        if self._one_read is not None:  # one statement: one view without a transaction
            if self._saves:  # none when foreseen: taken to be sent ahead
                self._write_kept_back()
            with transaction(self._engine, reads=True, ahead_alone=alone,
                             ahead=ahead if foreseen is not None else None) as conn:  # fmt: skip
                answers = self._one_read.ask(conn, account, symbol, now, reserved)
        else:
            with self._snapshot(ahead if foreseen is not None else None) as conn:
                answers = self._account.ask(conn, account, symbol, now, reserved)
        return answers(), (checks[0] if checks else nothing)

    # --- controls -----------------------------------------------------------------------------

    def trading_state(self, account: str | None = None) -> TradingState:
        with self._reading() as conn:
            if account is None:
                answer = self._sql.trading.ask(conn)
            else:
                answer = self._sql.trading_of.ask(conn, {"account_control": f"{TRADING}:{account}"})
        state = TradingState.ACTIVE
        for (value,) in answer.rows():
            state = stricter(state, TradingState(value)) if value else state
        return state

    def set_trading_state(self, state: TradingState, at: datetime, reason: str) -> None:
        values = {"value": state.value, "reason": short(reason, 500), "updated_at": at}
        stmt = (
            self._insert(controls)
            .values(name=TRADING, **values)
            .on_conflict_do_update(index_elements=["name"], set_=values)
        )
        self._flush(also=lambda conn: conn.execute(stmt))

    # --- reading orders -----------------------------------------------------------------------

    def orders(self, query: OrderQuery) -> list[OrderView]:
        with self._reading() as conn:
            rows = conn.execute(orders_query(query)).all()
        return [order_view(row) for row in rows]
