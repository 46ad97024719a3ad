"""The day's realized P&L of each account and currency (`pnl_days`), added to wherever
`pnl_changes` rows are written: the risk gate reads a row per currency instead of summing every
change of the day (which grew with each fill, and cost each signal more as the day went on)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select

from app.adapters.sql.db import as_utc, dialect_insert, upsert
from app.adapters.sql.prepared import Prepared
from app.adapters.sql.tables_execution import pnl_days

DAY_KEY = ("account", "day", "currency")


def utc_day(at: datetime) -> date:
    """The UTC day of `at` (a naive time is taken as UTC, as the store writes them)."""
    return as_utc(at).date()


def day_rows(changes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The `pnl_days` additions of the `pnl_changes` rows `changes`: their amounts summed by
    account, UTC day and currency."""
    sums: dict[tuple[str, date, str], Decimal] = {}
    for change in changes:
        key = (change["account"], utc_day(change["at"]), change["currency"])
        sums[key] = sums.get(key, Decimal(0)) + change["amount"]
    return [{"account": a, "day": d, "currency": c, "amount": amount}
            for (a, d, c), amount in sums.items()]  # fmt: skip


class PnlDays:
    """Its statements, compiled once (`Prepared`), run in the caller's transaction."""

    def __init__(self, engine: Engine) -> None:
        self._sqlite = engine.dialect.name == "sqlite"
        insert = dialect_insert(engine)(pnl_days)
        # PostgreSQL: added in SQL, exactly (NUMERIC) and atomically: two workers of one account
        # (other symbols, other locks) may add to the same row at once
        self._add = Prepared(
            engine,
            insert.on_conflict_do_update(
                index_elements=list(DAY_KEY),
                set_={"amount": pnl_days.c.amount + insert.excluded.amount},
            ),
        )
        # SQLite keeps money as exact text, which its `+` would turn into a float: read, added in
        # Decimal and written back, safe since SQLite's writers take turns (BEGIN IMMEDIATE)
        key = [pnl_days.c[name] == bindparam(name) for name in DAY_KEY]
        self._row = Prepared(engine, select(pnl_days.c.amount).where(*key))
        self._set = Prepared(engine, upsert(insert, list(DAY_KEY), keep=set()))

    def add(self, conn: Connection, changes: Iterable[Mapping[str, Any]]) -> None:
        """Add the `pnl_changes` rows `changes` to their days' rows."""
        for row in day_rows(changes):
            if not self._sqlite:
                self._add.send(conn, row)
                continue
            found = self._row.rows(conn, {k: row[k] for k in DAY_KEY})
            self._set.send(conn, {**row, "amount": row["amount"] + (found[0][0] if found else 0)})
