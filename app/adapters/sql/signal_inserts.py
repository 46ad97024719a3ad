"""PostgreSQL: a batch of signals and the first step of each one's lineage, in one statement.

The forwarder keeps signals as they arrive (`SqlSignalStore.add_many`): an INSERT of the
signals that skips those kept already (a batch forwarded twice), then a lineage step for each
one it inserted. On PostgreSQL both are one statement (the second INSERT reads what the first
returns), sent with its transaction's COMMIT: one round trip per batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select
from sqlalchemy.dialects import postgresql

from app.adapters.sql.prepared import Prepared
from app.adapters.sql.tables import events, signals


class SignalInserts:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._by_count: dict[tuple[int, tuple[str, ...]], Prepared] = {}

    def send(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Send the signals' `rows` (all with the same columns) ahead, in `conn`'s transaction."""
        columns = tuple(rows[0])
        key = (len(rows), columns)
        if (statement := self._by_count.get(key)) is None:
            statement = self._by_count[key] = Prepared(self._engine, self._statement(*key))
        values = {f"{name}_{n}": row[name] for n, row in enumerate(rows) for name in columns}
        statement.send(conn, values)

    @staticmethod
    def _statement(count: int, columns: tuple[str, ...]) -> Any:
        values = [
            {name: bindparam(f"{name}_{n}", type_=signals.c[name].type) for name in columns}
            for n in range(count)
        ]
        kept = (
            postgresql.insert(signals)
            .values(values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(signals.c.id, signals.c.received_at, signals.c.status, signals.c.reason)
            .cte("kept")
        )
        steps = select(kept.c.id, kept.c.received_at, kept.c.status, kept.c.reason)
        return insert(events).from_select(["signal_id", "at", "status", "detail"], steps)
