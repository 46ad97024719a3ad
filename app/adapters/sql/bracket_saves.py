"""Bracket saves as compare-and-swaps (see `app.adapters.bracket_holders`), written in the
transaction that flushes a store's kept-back saves.

The rows to save are read first in that transaction (their holdings contribution, version and
fencing token, locked: `SELECT ... FOR UPDATE` on PostgreSQL, SQLite's write lock being the
transaction's), compared with what each save's holder expects, and only the saves that pass are
written. The upsert keeps a guard of its own (`version = new version - 1`): a new bracket that
another holder inserted between the read and the write (no row to lock yet) fails the whole
flush.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from app.adapters.bracket_holders import NEW, Holder, fence_refuses, refusal
from app.adapters.sql.db import dialect_insert
from app.adapters.sql.execution_rows import pnl_change_rows
from app.adapters.sql.execution_statements import ExecutionStatements
from app.adapters.sql.holdings import HoldingRows, SavedRow
from app.adapters.sql.prepared import Prepared
from app.adapters.sql.tables_execution import brackets
from app.domain.brackets.bracket import Bracket
from app.ports.errors import StaleBracket

log = logging.getLogger("signalgate.execution")


@dataclass(frozen=True, slots=True)
class Save:
    """A bracket save kept back: by whom, and the version it expects (None: as it is now)."""

    bracket: Bracket
    at: datetime
    holder: Holder | None = None
    expected: int | None = None
    token: int | None = None


@dataclass(frozen=True, slots=True)
class Flush:
    """What one flush writes: the lineage steps, status changes and bracket saves kept back,
    and the saves' bracket and order rows."""

    steps: list[dict[str, Any]]
    statuses: list[dict[str, Any]]
    saves: list[Save]
    rows: list[dict[str, Any]]
    order_rows: list[dict[str, Any]]


@dataclass(slots=True)
class Compared:
    """The saves of one flush, against their rows."""

    written: list[tuple[Save, int]]  # and the version written
    refused: list[tuple[Save, StaleBracket]]

    def settle(self) -> None:
        """Tell each holder what became of its saves (raised to it by `Holder.raise_refused`)."""
        for save, version in self.written:
            if save.holder is not None:
                save.holder.saw(save.bracket.id, version)
        for save, error in self.refused:
            if save.holder is not None:
                save.holder.refuse(error, save.bracket.id)


def send_lineage(sql: ExecutionStatements, conn: Connection, flush: Flush) -> None:
    """Send the flush's lineage steps and status changes ahead in `conn`'s transaction."""
    sql.add_steps.send_many(conn, flush.steps)
    sql.set_status.send_many(conn, flush.statuses)


def send_pnl_changes(
    sql: ExecutionStatements, conn: Connection, before: Iterable[SavedRow], saves: Iterable[Save]
) -> None:
    """Send the `pnl_changes` rows of the written `saves`, whose rows were `before`, and add
    them to their days' totals."""
    was = {row.id: row.realized_pnl for row in before}
    changes = pnl_change_rows(was, [(s.bracket, s.at) for s in saves])
    sql.add_pnl_changes.send_many(conn, changes)
    sql.pnl_days.add(conn, changes)


def guarded_upsert(engine: Engine) -> Prepared:
    """INSERT ... ON CONFLICT (id) DO UPDATE every column, only while the row is at the version
    before the new one."""
    insert = dialect_insert(engine)(brackets)
    changes = {c.name: insert.excluded[c.name] for c in brackets.columns if c.name != "id"}
    guard = brackets.c.version == insert.excluded.version - 1
    return Prepared(
        engine, insert.on_conflict_do_update(index_elements=["id"], set_=changes, where=guard)
    )


def compare(
    saves: Sequence[Save], found: dict[str, tuple[int, int | None]], rows: list[dict[str, Any]]
) -> Compared:
    """Check each save against its row as `found` (version and fencing token, by id; none for a
    new bracket), and set the version and token each written row gets in `rows` (the saves'
    rows, in the same order)."""
    compared = Compared([], [])
    for save, row in zip(saves, rows, strict=True):
        version, stored = found.get(save.bracket.id, (NEW, None))
        expected = version if save.expected is None else save.expected
        if expected != version or fence_refuses(save.token, stored):
            error = refusal(save.bracket, expected, version, save.token, stored)
            compared.refused.append((save, error))
            continue
        row["version"] = version + 1
        row["fence"] = stored if save.token is None else save.token
        compared.written.append((save, version + 1))
    return compared


def written_only(rows: list[dict[str, Any]], key: str, refused: set[str]) -> list[dict[str, Any]]:
    return [row for row in rows if row[key] not in refused] if refused else rows


def raced(changed: int, rows: Sequence[dict[str, Any]]) -> StaleBracket | None:
    """The error when the guarded upsert of `rows` changed fewer rows than it was given."""
    if changed == len(rows):
        return None
    ids = ", ".join(row["id"] for row in rows)
    return StaleBracket(
        f"brackets {ids}: another holder wrote one of them while they were saved; nothing of"
        " this save was written"
    )


class CarefulSaves:
    """A flush's saves written the careful way: their rows read and locked first, in the
    caller's transaction, and only the saves they accept written."""

    def __init__(self, engine: Engine, sql: ExecutionStatements, holdings: HoldingRows) -> None:
        self._sql, self._holdings = sql, holdings
        self._upsert_bracket = guarded_upsert(engine)

    def write(self, conn: Connection, flush: Flush) -> Compared:
        saves, rows, order_rows = flush.saves, flush.rows, flush.order_rows
        before = self._holdings.before(conn, sorted(s.bracket.id for s in saves))  # lock order
        compared = compare(saves, {row.id: (row.version, row.fence) for row in before}, rows)
        if refused := {save.bracket.id for save, _ in compared.refused}:
            rows = written_only(rows, "id", refused)
            order_rows = written_only(order_rows, "bracket_id", refused)
            before = [row for row in before if row.id not in refused]
        if error := raced(self._upsert_bracket.executemany(conn, rows), rows):
            log.error("STALE %s", error)
            raise error
        self._sql.upsert_orders.send_many(conn, order_rows)
        written = [save for save, _ in compared.written]
        self._holdings.move(conn, before, [save.bracket for save in written])
        send_pnl_changes(self._sql, conn, before, written)
        return compared
