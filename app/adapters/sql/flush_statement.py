"""A foreseen flush (`bracket_flight`) as one statement on PostgreSQL: every write of it a
data-modifying CTE of one `WITH ... SELECT`, its rows sent as JSON.

The driver's work and the server's are per statement (BEGIN and COMMIT included): a flush sent
statement by statement cost six to eight of them, this one costs one, and a statement alone
is a transaction of its own (committed, and waited for on the disk, like a COMMIT). Its parts
are those of `BracketFlight.send`: the lineage steps, the status change, the bracket's guarded
UPDATE (an INSERT for a new bracket), the orders that changed, the holdings rows' changes and
the P&L changes and their days' totals. Each kind of row is one JSON parameter, unpacked by
`json_populate_record[set]` into the table's own column types (money as exact text): the
statement's text never changes, so the driver converts it once and PostgreSQL prepares it once,
and the values are encoded by msgspec in one go instead of by the driver one by one (a hundred
of them).

The save's CTE returns its row; the statement's SELECT calls `signalgate_refuse_save()` when its
guard (version and fencing token) matched no row, which fails the statement: nothing of it is
written, as with the statements one by one. A `quick` statement (a flush sent ahead of a read)
turns the commit of its transaction asynchronous itself (`set_config`), as a BEGIN and SET
around it would. Every CTE of a statement sees the same snapshot, so no part may need another's
effect and no row may be changed twice: each order and each signal's status is written once
(the last of each, as one statement after the other would leave them), and a flush that may
empty a holdings row (a bracket closes) is sent statement by statement, its row deleted by a
statement of its own, and so is one of more than `SLOTS` bracket updates or status changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Engine, text

from app.adapters.sql.holdings import HELD_SUMS, HOLDING_KEY
from app.adapters.sql.json_rows import ASYNC_COMMIT, column_names, insert_from_json, json_text
from app.adapters.sql.pnl_days import DAY_KEY, day_rows
from app.adapters.sql.prepared import Prepared
from app.adapters.sql.tables import events, signals
from app.adapters.sql.tables_execution import brackets, holdings, orders, pnl_changes, pnl_days

Rows = Sequence[Mapping[str, Any]]
SLOTS = 4  # bracket updates, and signals' status changes, that one statement takes


def last_of_each(rows: Rows, *key: str) -> list[Mapping[str, Any]]:
    """The last row of each `key` (in the order of their first rows): what one statement after
    the other would leave."""
    found: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for row in rows:
        found[tuple(row[k] for k in key)] = row
    return list(found.values())


class FlushRows(NamedTuple):
    """A flush's rows: `saves`, each bracket's row (every column, its new version and fencing
    token included) and whether it is new; the rows of `steps`, `statuses` (signal_id,
    new_status, at and reason; each signal once), `orders` (each order once), `held` (holdings
    changes, each row once) and `pnl`."""

    saves: Sequence[tuple[Mapping[str, Any], bool]]
    steps: Rows
    statuses: Rows
    orders: Rows
    held: Rows
    pnl: Rows


def _slots(table: str, prefix: str) -> str:
    """The rows of the `SLOTS` JSON parameters `<prefix>0`, ... (NULL: a row of NULLs, which
    matches nothing): a few rows the planner knows to be few, so that an UPDATE finds its rows by
    their key's index whatever the table's size (it takes `json_populate_recordset` for 100)."""
    return " UNION ALL ".join(
        f"SELECT * FROM json_populate_record(NULL::{table}, CAST(:{prefix}{n} AS json))"  # noqa: S608
        for n in range(SLOTS)
    )


def _sql(order_changes: Iterable[str]) -> str:
    every = column_names(brackets)
    changed = ", ".join(f"{name} = r.{name}" for name in every if name != "id")
    order_set = ", ".join(f"{name} = excluded.{name}" for name in sorted(order_changes))
    sums = ", ".join(f"{name} = holdings.{name} + excluded.{name}" for name in HELD_SUMS)
    return f"""
WITH steps AS ({insert_from_json(events, "steps", column_names(events, but=["id"]))}),
status AS (
    UPDATE {signals.name} SET status = s.status, updated_at = s.updated_at, reason = s.reason
    FROM ({_slots(signals.name, "t")}) AS s
    WHERE {signals.name}.id = s.id
),
orders_ AS ({insert_from_json(orders, "orders", column_names(orders, but=["id"]))}
    ON CONFLICT (venue, client_order_id) DO UPDATE SET {order_set}),
held AS ({insert_from_json(holdings, "held", column_names(holdings))}
    ON CONFLICT ({", ".join(HOLDING_KEY)}) DO UPDATE SET {sums}),
pnl AS ({insert_from_json(pnl_changes, "pnl", column_names(pnl_changes, but=["id"]))}),
pnl_day AS ({insert_from_json(pnl_days, "pnl_days", column_names(pnl_days))}
    ON CONFLICT ({", ".join(DAY_KEY)}) DO UPDATE SET amount = pnl_days.amount + excluded.amount),
updated AS (
    UPDATE brackets SET {changed}
    FROM ({_slots(brackets.name, "u")}) AS r
    WHERE brackets.id = r.id AND brackets.version = r.version - 1
        AND (brackets.fence IS NULL OR brackets.fence <= r.fence)
    RETURNING brackets.id
),
inserted AS ({insert_from_json(brackets, "inserted", every)}
    ON CONFLICT (id) DO NOTHING
    RETURNING brackets.id
)
SELECT
    CASE WHEN CAST(:quick AS boolean) THEN {ASYNC_COMMIT} END,
    (SELECT count(signalgate_refuse_save(saved.id))
     FROM json_array_elements_text(CAST(:saved AS json)) AS saved(id)
     WHERE saved.id NOT IN (SELECT id FROM updated UNION ALL SELECT id FROM inserted))
"""  # noqa: S608 - table and column names from the tables' metadata, values bound


class FlushStatement:
    def __init__(self, engine: Engine, order_changes: Iterable[str]) -> None:
        self._statement = Prepared(engine, text(_sql(order_changes)))

    def statement(
        self, flush: FlushRows, *, quick: bool = False
    ) -> tuple[Prepared, dict[str, Any]]:
        """The statement and its values for `flush` (`quick`: its commit does not wait for the
        disk)."""
        statuses = [{"id": s["signal_id"], "status": s["new_status"], "updated_at": s["at"],
                     "reason": s["reason"]} for s in flush.statuses]  # fmt: skip
        updated = [row for row, new in flush.saves if not new]
        if len(statuses) > SLOTS or len(updated) > SLOTS:
            raise ValueError(f"one statement takes {SLOTS} updates of each kind")
        values = {
            "steps": flush.steps,
            "orders": flush.orders,
            "held": flush.held,
            "pnl": flush.pnl,
            "pnl_days": day_rows(flush.pnl),
            "inserted": [row for row, new in flush.saves if new],
            "saved": [row["id"] for row, _ in flush.saves],
        }
        found: dict[str, Any] = {k: json_text(v) for k, v in values.items()}
        found["quick"] = quick
        for prefix, rows in (("t", statuses), ("u", updated)):
            found.update({f"{prefix}{n}": json_text(rows[n]) if n < len(rows) else None
                          for n in range(SLOTS)})  # fmt: skip
        return self._statement, found
