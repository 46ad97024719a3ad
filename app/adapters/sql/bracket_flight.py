"""What a store keeps back, written in one round trip on PostgreSQL when its saves can be foreseen.

A flush of kept-back bracket saves (`SqlExecutionStore`) reads each saved bracket's row first,
locked, and writes only the saves its row accepts (`bracket_saves`): a round trip to read, then
one to write and commit. But nearly every save is made by a holder that read or wrote the
bracket itself, at the version it expects: the store knows what the row holds at that version
(`Known`), so it can tell beforehand what the holdings rows and the day's P&L move by. Such a
flush goes in one transaction, in one round trip: each save an UPDATE guarded by the version and
the fencing token (an INSERT for a new bracket) that calls `signalgate_refuse_save()` (migration
0014) when it matches no row, which fails the whole transaction; the holdings rows are moved by
additions in SQL. A save that cannot be foreseen, or a refusal, sends the flush down the careful
path, which reads the rows and refuses what it must.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, Engine, String, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import DBAPIError

from app.adapters.bracket_holders import NEW
from app.adapters.sql.bracket_saves import Compared, Flush, Save, send_lineage, send_pnl_changes
from app.adapters.sql.db import dialect_insert, transaction
from app.adapters.sql.execution_rows import pnl_change_rows
from app.adapters.sql.execution_statements import ORDER_CHANGES, ExecutionStatements
from app.adapters.sql.flush_statement import SLOTS, FlushRows, FlushStatement, last_of_each
from app.adapters.sql.holdings import HOLDING_KEY, HoldingRows, SavedRow, holding_changes
from app.adapters.sql.prepared import Prepared
from app.adapters.sql.tables_execution import brackets
from app.domain.brackets.bracket import FINAL, Bracket
from app.domain.brackets.pnl import realized_so_far

Check = Callable[[], None]


def nothing() -> None:
    """The check of a write that leaves nothing to check."""


REFUSED = "SG409"  # the SQLSTATE of signalgate_refuse_save()
_UNDEFINED_FUNCTION = "42883"
log = logging.getLogger("signalgate.execution")
_SCALE = Decimal(1).scaleb(-18)  # MONEY's: PostgreSQL rounds what it stores half away from zero


class Known:
    """The brackets a store read or wrote, each at the version it read or wrote: what its row
    holds at that version (a version is written once). Closed brackets are forgotten."""

    def __init__(self, limit: int = 50_000) -> None:
        self._limit = limit
        self._by_id: dict[str, tuple[int, Bracket]] = {}

    def saw(self, bracket: Bracket, version: int) -> None:
        if bracket.state in FINAL:
            self._by_id.pop(bracket.id, None)
            return
        if len(self._by_id) >= self._limit:
            self._by_id.clear()
        self._by_id[bracket.id] = (version, bracket)

    def at(self, bracket_id: str, version: int) -> Bracket | None:
        found = self._by_id.get(bracket_id)
        return found[1] if found is not None and found[0] == version else None

    def keep_only(self, open_ids: Container[str]) -> None:
        """Forget the brackets not among `open_ids`, every open bracket's id as just read: the
        ones closed elsewhere (a worker's close, a reverse), which this store never saw closed."""
        for gone in [i for i in self._by_id if i not in open_ids]:
            del self._by_id[gone]

    def __len__(self) -> int:
        return len(self._by_id)


def _stored(value: Decimal) -> Decimal:
    return value.quantize(_SCALE, ROUND_HALF_UP)


def row_before(bracket: Bracket, version: int) -> SavedRow:
    """The bracket's row as `HoldingRows.before` reads it, from the value saved at `version`
    (its fencing token unknown: the guarded UPDATE compares it)."""
    price = None if bracket.entry_price is None else _stored(bracket.entry_price)
    return SavedRow(bracket.id, bracket.account, bracket.venue, bracket.symbol,
                    bracket.side.value, bracket.state.value, _stored(bracket.position), price,
                    _stored(realized_so_far(bracket)), version, None)  # fmt: skip


class BracketFlight:
    """The statements of a one-round-trip flush, compiled once (`Prepared`)."""

    def __init__(
        self, engine: Engine, sql: ExecutionStatements, holdings: HoldingRows, known: Known
    ) -> None:
        self._engine, self._sql, self._holdings, self._known = engine, sql, holdings, known
        self._enabled = True
        values = {c.name: bindparam(f"v_{c.name}", type_=c.type) for c in brackets.columns}
        bracket_id = bindparam("v_id", type_=String)
        updated = (
            update(brackets)
            .where(brackets.c.id == bracket_id, brackets.c.version == bindparam("expected"),
                   or_(brackets.c.fence.is_(None), brackets.c.fence <= values["fence"]))
            .values({name: value for name, value in values.items() if name != "id"})
            .returning(brackets.c.id)
            .cte("saved")
        )  # fmt: skip
        inserted = (
            dialect_insert(engine)(brackets)
            .values(values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(brackets.c.id)
            .cte("saved")
        )
        self._one = FlushStatement(engine, ORDER_CHANGES)
        self._saves = {
            kind: Prepared(
                engine,
                select(func.signalgate_refuse_save(bracket_id)).where(~exists(select(saved.c.id))),
            )
            for kind, saved in (("update", updated), ("insert", inserted))
        }

    def foreseen(self, saves: Iterable[Save]) -> list[SavedRow] | None:
        """Each existing bracket's row as its save expects it (`row_before`), or None when a
        save cannot be foreseen: made outside a holder, or of a version this store never saw."""
        if not self._enabled:
            return None
        before = []
        for save in saves:
            if save.holder is None or save.expected is None or save.token is None:
                return None
            if save.expected == NEW:
                continue
            seen = self._known.at(save.bracket.id, save.expected)
            if seen is None:
                return None
            before.append(row_before(seen, save.expected))
        return before

    @staticmethod
    def one_statement(flush: Flush, before: list[SavedRow]) -> bool:
        """Whether the flush is sent as one statement (`flush_statement`): unless a holdings
        row may be emptied by it (a bracket closes), which a statement of its own deletes, or
        it updates more brackets or signals than the statement takes."""
        changes = holding_changes(before, [save.bracket for save in flush.saves])
        updates = sum(1 for save in flush.saves if save.expected)
        signals = {status["signal_id"] for status in flush.statuses}
        if max(updates, len(signals)) > SLOTS:
            return False
        return all(change.brackets >= 0 for change in changes.values())

    def send(
        self,
        conn: Connection,
        flush: Flush,
        before: list[SavedRow],
        alone: bool | None = None,
        *,
        quick: bool = False,
    ) -> Check:
        """Send the whole flush ahead on `conn` (its `foreseen` rows `before`); the check to
        run once it is committed. A refused save fails the transaction (`refused`). `alone`:
        `one_statement`'s answer, when the caller already asked it; `quick`: one statement's
        commit does not wait for the disk (a flush sent ahead of a read, `pipelined`)."""
        for save, row in zip(flush.saves, flush.rows, strict=True):
            expected = save.expected or NEW  # foreseen: never None
            row["version"], row["fence"] = expected + 1, save.token
        if self.one_statement(flush, before) if alone is None else alone:
            self._send_one(conn, flush, before, quick)
            return nothing
        send_lineage(self._sql, conn, flush)
        for save, row in zip(flush.saves, flush.rows, strict=True):
            expected = save.expected or NEW
            guarded = {f"v_{name}": value for name, value in row.items()}
            self._saves["update" if expected else "insert"].send(
                conn, {**guarded, "expected": expected}
            )
        self._sql.upsert_orders.send_many(conn, self._changed_orders(flush))
        check = self._holdings.add(conn, before, [save.bracket for save in flush.saves])
        send_pnl_changes(self._sql, conn, before, flush.saves)
        return check

    def _send_one(
        self, conn: Connection, flush: Flush, before: list[SavedRow], quick: bool
    ) -> None:
        changes = holding_changes(before, [save.bracket for save in flush.saves])
        was = {row.id: row.realized_pnl for row in before}
        saves = zip(flush.saves, flush.rows, strict=True)
        statement, values = self._one.statement(FlushRows(
            [(row, not save.expected) for save, row in saves],
            flush.steps,
            last_of_each(flush.statuses, "signal_id"),
            last_of_each(self._changed_orders(flush), "venue", "client_order_id"),
            [{**dict(zip(HOLDING_KEY, key, strict=True)), **change.row()}
             for key, change in changes.items()],
            pnl_change_rows(was, [(save.bracket, save.at) for save in flush.saves]),
        ), quick=quick)  # fmt: skip
        statement.send(conn, values)

    def _changed_orders(self, flush: Flush) -> list[dict[str, Any]]:
        """The order rows of the flush but those of orders as the bracket's previous version
        held them (most of a bracket's orders do not change from one save to the next)."""
        same: set[tuple[str, str]] = set()
        for save in flush.saves:
            seen = self._known.at(save.bracket.id, save.expected or NEW)
            if seen is not None:
                kept = set(seen.orders)
                same.update((save.bracket.id, o.client_order_id) for o in save.bracket.orders
                            if o in kept)  # fmt: skip
        if not same:
            return flush.order_rows
        return [r for r in flush.order_rows if (r["bracket_id"], r["client_order_id"]) not in same]

    def declined(self, error: DBAPIError) -> bool:
        """Whether a flush sent in one round trip failed in a way the careful path writes
        anyway, nothing of it written: a save refused by its row, or a database without
        `signalgate_refuse_save()` (not migrated to 0014 yet: no flush is sent this way again)."""
        state = getattr(error.orig, "sqlstate", None)
        if state == _UNDEFINED_FUNCTION and self._enabled:
            self._enabled = False
            log.warning(
                "the database has no signalgate_refuse_save(): run the migrations"
                " (signalgate migrate); bracket saves read their rows first until then"
            )
        return state in (REFUSED, _UNDEFINED_FUNCTION)

    @staticmethod
    def written(flush: Flush) -> Compared:
        """What became of the saves of a flush sent and committed: all written."""
        return Compared([(save, (save.expected or NEW) + 1) for save in flush.saves], [])

    def write(self, flush: Flush, before: list[SavedRow]) -> Compared | None:
        """Write the flush in one transaction, one round trip; None, with nothing written, when
        a save was refused (its row changed since).

        Raises:
            Unavailable, DBAPIError: as `transaction`; nothing was written.
        """
        try:
            alone = self.one_statement(flush, before)  # a transaction of its own
            with transaction(self._engine, write=True, one_statement=alone) as conn:
                check = self.send(conn, flush, before, alone)
        except DBAPIError as error:
            if self.declined(error):
                return None
            raise
        check()
        return self.written(flush)
