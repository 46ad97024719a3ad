"""A foreseen flush (`bracket_flight`) as one statement on PostgreSQL: every write of it a
data-modifying CTE of one `WITH ... SELECT`.

The driver's work and the server's are per statement (BEGIN and COMMIT included): a flush sent
statement by statement cost seven or eight of them, this one costs one, and a statement alone
is a transaction of its own (committed, and waited for on the disk, like a COMMIT). Its parts
are those of `BracketFlight.send`: the lineage steps, the status changes, each bracket's
guarded UPDATE (an INSERT for a new bracket), the orders that changed, the holdings rows'
changes and the P&L changes. Each save's CTE returns its row; the statement's SELECT calls
`signalgate_refuse_save()` for a save whose guard matched no row, which fails the statement:
nothing of it is written, as with the statements one by one. Every CTE of a statement sees the
same snapshot, so no part may need another's effect, and no row may be changed twice: a
holdings row that a change may empty (a bracket closes) is deleted by a statement of its own
after this one (`usable` says when), and the orders and status changes are written once each
(the last of each, as one statement after the other would leave them).

Compiled once per shape (how many saves, rows of each kind, and their keys): a flush of more
than `MOST_ROWS` rows of a kind is sent statement by statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, exists, func, literal_column, or_, select, union_all
from sqlalchemy.dialects.postgresql import insert

from app.adapters.sql.prepared import Prepared
from app.adapters.sql.tables import events, signals
from app.adapters.sql.tables_execution import brackets, holdings, orders, pnl_changes

Rows = Sequence[Mapping[str, Any]]
_HOLDING_KEY = ["account", "venue", "symbol", "side"]
_SUMS = ("position", "cost", "brackets")
MOST_ROWS = 16  # of each kind, in one statement (a few shapes, far from the bound values' limit)


def last_of_each(rows: Rows, *key: str) -> list[Mapping[str, Any]]:
    """The last row of each `key` (in the order of their first rows)."""
    found: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for row in rows:
        found[tuple(row[k] for k in key)] = row
    return list(found.values())


def _values(table: Any, prefix: str, rows: Rows) -> list[dict[str, Any]]:
    return [{k: bindparam(f"{prefix}{n}_{k}", type_=table.c[k].type) for k in row}
            for n, row in enumerate(rows)]  # fmt: skip


class FlushRows(NamedTuple):
    """A flush's rows: `saves`, each bracket's row (every column) and the version it expects
    (0: a new bracket); the rows of `steps`, `statuses`, `orders` (each order once), `held`
    (holdings changes, each row once) and `pnl`."""

    saves: Sequence[tuple[Mapping[str, Any], int]]
    steps: Rows
    statuses: Rows
    orders: Rows
    held: Rows
    pnl: Rows


class FlushStatement:
    """The statements, one per shape of flush."""

    def __init__(self, engine: Engine, order_changes: Iterable[str]) -> None:
        self._engine = engine
        self._order_changes = sorted(order_changes)
        self._shapes: dict[tuple[Any, ...], Prepared] = {}

    def statement(self, flush: FlushRows) -> tuple[Prepared, dict[str, Any]]:
        """The statement of a flush and its values."""
        parts = (("e", flush.steps), ("t", flush.statuses), ("o", flush.orders),
                 ("h", flush.held), ("p", flush.pnl))  # fmt: skip
        shape = (
            tuple((bool(expected), tuple(row)) for row, expected in flush.saves),
            *((prefix, len(rows), tuple(rows[0]) if rows else ()) for prefix, rows in parts),
        )
        prepared = self._shapes.get(shape)
        if prepared is None:
            prepared = self._shapes[shape] = Prepared(self._engine, self._compose(flush))
        values: dict[str, Any] = {}
        for n, (row, expected) in enumerate(flush.saves):
            values.update({f"s{n}_{k}": v for k, v in row.items()})
            values[f"s{n}_expected"] = expected
        for prefix, rows in parts:
            for n, row in enumerate(rows):
                values.update({f"{prefix}{n}_{k}": v for k, v in row.items()})
        return prepared, values

    def _compose(self, flush: FlushRows) -> Any:
        saves, steps, statuses, orders_, held, pnl = flush
        writes: list[Any] = []
        if steps:
            writes.append(events.insert().values(_values(events, "e", steps)).cte("steps"))
        writes.extend(
            signals.update()
            .where(signals.c.id == bindparam(f"t{n}_signal_id"))
            .values(status=bindparam(f"t{n}_new_status"), updated_at=bindparam(f"t{n}_at"),
                    reason=bindparam(f"t{n}_reason"))
            .cte(f"status{n}")
            for n in range(len(statuses))
        )  # fmt: skip
        if orders_:
            upsert = insert(orders).values(_values(orders, "o", orders_))
            changes = {name: upsert.excluded[name] for name in self._order_changes}
            writes.append(
                upsert.on_conflict_do_update(
                    index_elements=["venue", "client_order_id"], set_=changes
                ).cte("orders")
            )
        if held:
            add = insert(holdings).values(_values(holdings, "h", held))
            sums = {name: holdings.c[name] + add.excluded[name] for name in _SUMS}
            writes.append(
                add.on_conflict_do_update(index_elements=_HOLDING_KEY, set_=sums).cte("held")
            )
        if pnl:
            writes.append(pnl_changes.insert().values(_values(pnl_changes, "p", pnl)).cte("pnl"))
        checks: list[Any] = [self._saved(n, *save) for n, save in enumerate(saves)]
        final: Any = select(literal_column("1")) if not checks else checks[0]
        if len(checks) > 1:
            final = union_all(*checks)
        return final.add_cte(*writes)

    @staticmethod
    def _saved(n: int, row: Mapping[str, Any], expected: int) -> Any:
        """The SELECT that refuses save `n` unless its CTE wrote its row."""
        values = {k: bindparam(f"s{n}_{k}", type_=brackets.c[k].type) for k in row}
        if expected:
            write = (
                brackets.update()
                .where(brackets.c.id == values["id"],
                       brackets.c.version == bindparam(f"s{n}_expected"),
                       or_(brackets.c.fence.is_(None), brackets.c.fence <= values["fence"]))
                .values({k: v for k, v in values.items() if k != "id"})
            )  # fmt: skip
        else:
            write = insert(brackets).values(values).on_conflict_do_nothing(index_elements=["id"])
        saved = write.returning(brackets.c.id).cte(f"saved{n}")
        return select(func.signalgate_refuse_save(values["id"])).where(~exists(select(saved.c.id)))
