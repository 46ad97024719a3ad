"""`ExecutionStore` in SQL: brackets with their orders, lineage steps and the trading controls.

Lineage steps and bracket saves made in a batch (`SqlExecutionStore.batch`) are kept back and
written together, in one transaction, when a batch is left, when a status changes, or before a
read that needs the saves: a worker writes three transactions per entry signal instead of one
per step and save.

A save made in a batch opened with the holder's fences is a compare-and-swap on the bracket's
version and fencing token (`ExecutionStore.batch`, `bracket_saves`), checked in the transaction
that writes it: a refused save is left out of it, everything else is written, and `StaleBracket`
is raised to its holder there, or at its next save or flush when another task's flush wrote it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    select,
    update,
)

from app.adapters.bracket_holders import holder_of, holding
from app.adapters.sql.activity import TRADING, AccountActivity
from app.adapters.sql.bracket_saves import (
    Compared,
    Save,
    compare,
    guarded_upsert,
    raced,
    written_only,
)
from app.adapters.sql.db import (
    dialect_insert,
    events,
    newest_first,
    signals,
    transaction,
    upsert,
)
from app.adapters.sql.execution_rows import (
    account_state,
    bracket_rows,
    order_view,
    pending_signal,
    pnl_change_rows,
    short,
    signal_states,
    step_row,
    unit_legs,
)
from app.adapters.sql.holdings import HoldingRows
from app.adapters.sql.open_entries import OpenEntries
from app.adapters.sql.prepared import Prepared, any_of
from app.adapters.sql.tables_execution import brackets, controls, orders, pnl_changes
from app.domain.brackets.bracket import FINAL, Bracket
from app.domain.risk_values import TradingState
from app.domain.signals import PENDING, SignalStatus
from app.ports.execution import (
    AccountState,
    Fence,
    LineageStep,
    OrderQuery,
    OrderView,
    PendingSignal,
    SignalState,
)

_OPEN = [s.value for s in PENDING]
_FINAL = [s.value for s in FINAL]

_ORDER_CHANGES = {"order_id", "state", "amount", "filled", "average_price", "price",
                  "trigger_price", "fee", "fee_currency", "reduce_only", "updated_at"}  # fmt: skip
_DONE = ["filled", "cancelled", "rejected", "expired"]
log = logging.getLogger("signalgate.execution")

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
        self._saves: dict[str, Save] = {}  # brackets not written yet
        # The statements of every signal, compiled once and run on the driver's cursor
        # (`Prepared`); the rest are built once with bound parameters, so that SQLAlchemy reuses
        # their compiled form.
        prepared = functools.partial(Prepared, engine)
        self._holdings = HoldingRows(engine)  # kept up to date by every bracket save
        self._entries = OpenEntries(engine)
        self._add_steps = prepared(events.insert())
        self._set_status = prepared(
            update(signals)
            .where(signals.c.id == bindparam("signal_id"))
            .values(status=bindparam("new_status"), updated_at=bindparam("at"),
                    reason=bindparam("reason"))
        )  # fmt: skip
        self._activity = AccountActivity(engine)
        self._add_pnl_changes = prepared(pnl_changes.insert())
        self._trading = select(controls.c.value).where(controls.c.name == TRADING)
        self._bracket = select(brackets.c.data, brackets.c.version).where(
            brackets.c.id == bindparam("id")
        )
        columns = (signals.c.id, signals.c.received_at, signals.c.status, signals.c.signal,
                   brackets.c.id.is_not(None).label("started"))  # fmt: skip
        with_bracket = signals.outerjoin(brackets, brackets.c.id == signals.c.id)
        self._states = select(
            signals.c.id, signals.c.account, signals.c.symbol, signals.c.status
        ).where(signals.c.id.in_(bindparam("ids", expanding=True)))
        self._one_signal = (
            select(*columns).select_from(with_bracket).where(signals.c.id == bindparam("id"))
        )
        self._unit = (
            select(*columns).select_from(with_bracket).where(signals.c.unit_id == bindparam("unit"))
        )
        self._pending = prepared(
            select(*columns)
            .select_from(with_bracket)
            .where(
                signals.c.account == bindparam("account"),
                signals.c.symbol == bindparam("symbol"),
                any_of(signals.c.status, _OPEN),
                signals.c.id <= bindparam("up_to"),
            )
            .order_by(signals.c.id)
        )
        self._upsert_bracket = guarded_upsert(engine)
        # an order's own columns (bracket, account, symbol, leg, side, kind, creation) never
        # change: left out of the update, their indexes are not rewritten (-40% per upsert)
        self._upsert_orders = prepared(
            upsert(self._insert(orders), ["venue", "client_order_id"],
                   keep={c.name for c in orders.columns} - _ORDER_CHANGES)
        )  # fmt: skip

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
        if self._steps or self._saves:
            with self._writing():
                pass
        if (holder := holder_of(self)) is not None:
            holder.raise_refused()

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction that also writes the waiting lineage steps and bracket saves.

        On failure the steps are kept for the next write, the saves dropped: a bracket is saved
        under its account-and-symbol lock, and a save written after the lock is gone could
        overwrite a newer one (what the venue did is read back by the monitor anyway). Saves
        refused by their rows are left out and the rest written (`StaleBracket` is raised to
        their holders: this context's after the commit).
        """
        steps, self._steps = self._steps, []
        saves, self._saves = self._saves, {}
        compared = Compared([], [])
        try:
            # the rows are made before the write lock is taken
            rows, order_rows = bracket_rows((s.bracket, s.at) for s in saves.values())
            with transaction(self._engine, write=True) as conn:
                if steps:
                    self._add_steps.executemany(conn, steps)
                if saves:
                    compared = self._write_brackets(conn, list(saves.values()), rows, order_rows)
                yield conn
        except BaseException:
            self._steps = steps + self._steps
            raise
        compared.settle()
        if (holder := holder_of(self)) is not None:
            holder.raise_refused()

    def _reading(self) -> AbstractContextManager[Connection]:
        """A read that sees this store's own saves: they are written first."""
        if self._saves:
            self._write_kept_back()
        return transaction(self._engine)

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """`_reading`, every statement seeing the database as of the first: PostgreSQL's read
        committed gives each statement its own view, and so does SQLite, where the driver runs
        a SELECT outside any transaction unless one is begun."""
        if self._saves:
            self._write_kept_back()
        with transaction(self._snapshots) as conn:
            if conn.dialect.name == "sqlite":  # on the driver's connection, as BEGIN IMMEDIATE is
                conn.connection.dbapi_connection.execute("BEGIN")  # type: ignore[union-attr]
            yield conn

    # --- signals ------------------------------------------------------------------------------

    def signal(self, signal_id: str) -> PendingSignal | None:
        with self._reading() as conn:
            row = conn.execute(self._one_signal, {"id": signal_id}).first()
        return None if row is None else pending_signal(*row)

    def states(self, signal_ids: Sequence[str]) -> dict[str, SignalState]:
        with self._reading() as conn:
            return signal_states(conn.execute(self._states, {"ids": list(signal_ids)}).all())

    def unit(self, unit_id: str) -> list[PendingSignal]:
        with self._reading() as conn:
            return unit_legs(conn.execute(self._unit, {"unit": unit_id}).all())

    def pending(self, account: str, symbol: str, up_to: str) -> list[PendingSignal]:
        values = {"account": account, "symbol": symbol, "up_to": up_to}
        with self._reading() as conn:
            return [pending_signal(*row) for row in self._pending.rows(conn, values)]

    def record(self, step: LineageStep, *, status: SignalStatus | None = None) -> None:
        """Kept back in a batch (written with the next save or status change: one transaction
        instead of one each); a status change is written at once."""
        self._steps.append(step_row(step))
        if status is not None:
            values = {"signal_id": step.signal_id, "new_status": status.value, "at": step.at,
                      "reason": short(step.detail, 500)}  # fmt: skip
            with self._writing() as conn:
                self._set_status.execute(conn, values)
        elif not self._batching():
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

    def _write_brackets(
        self,
        conn: Connection,
        saves: list[Save],
        rows: list[dict[str, Any]],
        order_rows: list[dict[str, Any]],
    ) -> Compared:
        """Write the saves that their rows, read and locked first, accept."""
        before = self._holdings.before(conn, sorted(s.bracket.id for s in saves))  # lock order
        compared = compare(saves, {row[0]: (row[-2], row[-1]) for row in before}, rows)
        if refused := {save.bracket.id for save, _ in compared.refused}:
            rows = written_only(rows, "id", refused)
            order_rows = written_only(order_rows, "bracket_id", refused)
            before = [row for row in before if row[0] not in refused]
        if error := raced(self._upsert_bracket.executemany(conn, rows), rows):
            log.error("STALE %s", error)
            raise error
        if order_rows:
            self._upsert_orders.executemany(conn, order_rows)
        self._holdings.move(conn, before, [save.bracket for save, _ in compared.written])
        written = [(save.bracket, save.at) for save, _ in compared.written]
        if changes := pnl_change_rows({row[0]: row[-3] for row in before}, written):
            self._add_pnl_changes.executemany(conn, changes)
        return compared

    def _seen(self, rows: Sequence[Any]) -> list[Bracket]:
        """The brackets of `rows` (data, version), their versions noted by this context's
        holder, if any: its saves of them are compared with these."""
        holder = holder_of(self)
        found = []
        for data, version in rows:
            bracket = msgspec.convert(data, Bracket)
            if holder is not None:
                holder.saw(bracket.id, version)
            found.append(bracket)
        return found

    def bracket(self, bracket_id: str) -> Bracket | None:
        with self._reading() as conn:
            rows = conn.execute(self._bracket, {"id": bracket_id}).all()
        return next(iter(self._seen(rows)), None)

    def open_bracket_versions(self) -> dict[str, object]:
        query = select(brackets.c.id, brackets.c.version).where(brackets.c.state.notin_(_FINAL))
        with self._reading() as conn:
            return dict(conn.execute(query).all())

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
        query = select(brackets.c.data, brackets.c.version).where(brackets.c.state.notin_(_FINAL))
        if account is not None:
            query = query.where(brackets.c.account == account)
        if symbol is not None:
            query = query.where(brackets.c.symbol == symbol)
        with self._reading() as conn:
            rows = conn.execute(query.order_by(brackets.c.id)).all()
        return self._seen(rows)

    def account_state(
        self, account: str, symbol: str, now: datetime, reserved: Collection[str] = ()
    ) -> AccountState:
        # One view of the book for every statement: an entry moves from reserved to resting to
        # held, and one recorded, then filled, between two statements read at their own times
        # would be counted by none of them (or twice).
        with self._snapshot() as conn:
            on_record = self._entries.on_record(conn, reserved)
            resting = self._entries.resting(conn, account)
            held = self._holdings.of_account(conn, account)
            activity, realized = self._activity.read(conn, account, symbol, now)
        return msgspec.structs.replace(
            account_state(held, activity, symbol, realized), resting=resting, on_record=on_record
        )

    # --- controls -----------------------------------------------------------------------------

    def trading_state(self) -> TradingState:
        with self._reading() as conn:
            value = conn.execute(self._trading).scalar()
        return TradingState(value) if value else TradingState.ACTIVE

    def set_trading_state(self, state: TradingState, at: datetime, reason: str) -> None:
        values = {"value": state.value, "reason": short(reason, 500), "updated_at": at}
        stmt = (
            self._insert(controls)
            .values(name=TRADING, **values)
            .on_conflict_do_update(index_elements=["name"], set_=values)
        )
        with self._writing() as conn:
            conn.execute(stmt)

    # --- reading orders -----------------------------------------------------------------------

    def orders(self, query: OrderQuery) -> list[OrderView]:
        stmt = newest_first(orders, query, bracket_id=query.signal_id, account=query.account,
                            symbol=query.symbol, venue=query.venue, state=query.state)  # fmt: skip
        if query.open_only:
            stmt = stmt.where(orders.c.state.notin_(_DONE))
        with self._reading() as conn:
            rows = conn.execute(stmt).all()
        return [order_view(row) for row in rows]
