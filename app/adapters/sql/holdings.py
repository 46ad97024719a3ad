"""The holdings rows: what the open brackets of each account, venue, symbol and side hold, moved
in the transaction of every bracket save, so that the risk gate reads a few rows per signal
instead of summing every open bracket."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, bindparam, select

from app.adapters.sql.db import dialect_insert, upsert
from app.adapters.sql.prepared import Prepared
from app.adapters.sql.tables_execution import brackets, holdings
from app.domain.brackets.bracket import FINAL, Bracket
from app.ports.execution import Holding

HoldingKey = tuple[str, str, str, str]  # account, venue, symbol, side
HOLDING_KEY = ("account", "venue", "symbol", "side")
HELD_SUMS = ("position", "cost", "brackets")  # the columns a change adds to


class SavedRow(NamedTuple):
    """A bracket's row as saved now (`HoldingRows.before`): what it adds to its holdings row, its
    realized P&L (for `pnl_change_rows`), and the version and fencing token its next save is
    compared with."""

    id: str
    account: str
    venue: str
    symbol: str
    side: str
    state: str
    position: Decimal
    entry_price: Decimal | None
    realized_pnl: Decimal
    version: int
    fence: int | None


_SAVED_ROW = [brackets.c[name] for name in SavedRow._fields]
_FINAL = [s.value for s in FINAL]
_ZERO = Decimal(0)
log = logging.getLogger("signalgate.execution")


class HoldingRows:
    """The holdings statements, compiled once (`Prepared`), run in the caller's transaction."""

    def __init__(self, engine: Engine) -> None:
        prepared = functools.partial(Prepared, engine)
        self._of_account = prepared(
            select(holdings.c.venue, holdings.c.symbol, holdings.c.side, holdings.c.position,
                   holdings.c.cost, holdings.c.brackets)
            .where(holdings.c.account == bindparam("account"))
            .order_by(holdings.c.venue, holdings.c.symbol, holdings.c.side)
        )  # fmt: skip
        self._held_before = prepared(
            select(*_SAVED_ROW).where(brackets.c.id == bindparam("id")).with_for_update()
        )
        row = [holdings.c[name] == bindparam(name) for name in HOLDING_KEY]
        self._row = prepared(
            select(holdings.c.position, holdings.c.cost, holdings.c.brackets).where(*row)
        )
        self._upsert = prepared(
            upsert(dialect_insert(engine)(holdings), list(HOLDING_KEY), keep=set())
        )
        self._drop = prepared(holdings.delete().where(*row))
        # `add` (PostgreSQL, whose sums in SQL are exact): a change added to the row in SQL, and
        # the row dropped once it counts no bracket
        insert = dialect_insert(engine)(holdings)
        self._add = prepared(
            insert.on_conflict_do_update(
                index_elements=list(HOLDING_KEY),
                set_={name: holdings.c[name] + insert.excluded[name] for name in HELD_SUMS},
            )
        )
        self._drop_empty = prepared(
            holdings.delete()
            .where(*row, holdings.c.brackets <= 0)
            .returning(holdings.c.position, holdings.c.brackets)
        )

    def of_account(self, conn: Connection, account: str) -> Callable[[], list[Holding]]:
        """Ask for the account's holdings; the function that reads the answer."""
        answer = self._of_account.ask(conn, {"account": account})
        return lambda: [Holding.summed(*row) for row in answer.rows()]

    def before(self, conn: Connection, bracket_ids: Iterable[str]) -> list[SavedRow]:
        """The rows of the brackets `bracket_ids` as saved now (none for a new bracket): read,
        and locked until the transaction ends, before their new saves are written."""
        asked = [self._held_before.ask(conn, {"id": i}) for i in bracket_ids]  # sent together
        return [SavedRow(*row) for answer in asked for row in answer.rows()]

    def move(self, conn: Connection, before: Iterable[SavedRow], after: Sequence[Bracket]) -> None:
        """Add to the holdings rows what changes when the brackets `after` replace their rows
        `before` (a holdings row goes when its last bracket closes).

        Read, added in exact Decimals and written back in the brackets' transaction: the rows
        of one account and symbol change only under that key's lock, like its brackets."""
        for key, change in holding_changes(before, after).items():
            where = dict(zip(HOLDING_KEY, key, strict=True))
            found = self._row.rows(conn, where)
            now = change.plus(HeldSums(*found[0])) if found else change
            if now.brackets > 0:
                self._upsert.send(conn, {**where, **now.row()})
                continue
            if now.brackets < 0 or now.position:
                log.error("holdings of %s out of step with the brackets: %s", key, now)
            self._drop.send(conn, where)

    def add(
        self, conn: Connection, before: Iterable[SavedRow], after: Sequence[Bracket]
    ) -> Callable[[], None]:
        """`move`, with every change sent ahead and added in SQL (PostgreSQL: its NUMERIC sums
        are exact), so that nothing is read first. Returns the check to run once the
        transaction is committed, which logs a holdings row out of step with its brackets."""
        dropped = []
        for key, change in holding_changes(before, after).items():
            where = dict(zip(HOLDING_KEY, key, strict=True))
            self._add.send(conn, {**where, **change.row()})
            if change.brackets < 0:
                dropped.append((key, self._drop_empty.ask(conn, where)))

        def check() -> None:
            for key, answer in dropped:
                for position, count in answer.rows():
                    if count < 0 or position:
                        log.error("holdings of %s out of step with the brackets: %s brackets,"
                                  " position %s", key, count, position)  # fmt: skip

        return check


@dataclass(frozen=True, slots=True)
class HeldSums:
    """A holdings row's sums, or a change to them."""

    position: Decimal
    cost: Decimal  # position x entry price
    brackets: int

    def plus(self, other: HeldSums) -> HeldSums:
        return HeldSums(self.position + other.position, self.cost + other.cost,
                        self.brackets + other.brackets)  # fmt: skip

    def negated(self) -> HeldSums:
        return HeldSums(-self.position, -self.cost, -self.brackets)

    @property
    def nothing(self) -> bool:
        return not (self.position or self.cost or self.brackets)

    def row(self) -> dict[str, Any]:
        return {"position": self.position, "cost": self.cost, "brackets": self.brackets}


def _held(state: str, position: Decimal, entry_price: Decimal | None) -> HeldSums | None:
    """What one bracket adds to its holdings row: nothing once it is closed or failed."""
    if state in _FINAL:
        return None
    return HeldSums(position, position * entry_price if entry_price is not None else _ZERO, 1)


def holding_changes(
    before: Iterable[SavedRow], after: Iterable[Bracket]
) -> dict[HoldingKey, HeldSums]:
    """The changes to the holdings rows when the brackets `after` replace their rows `before`
    (a bracket saved for the first time has none)."""
    changes: dict[HoldingKey, HeldSums] = {}

    def add(key: HoldingKey, sums: HeldSums | None) -> None:
        if sums is not None:
            changes[key] = changes[key].plus(sums) if key in changes else sums

    for row in before:
        if (was := _held(row.state, row.position, row.entry_price)) is not None:
            add((row.account, row.venue, row.symbol, row.side), was.negated())
    for b in after:
        key = (b.account, b.venue, b.symbol, b.side.value)
        add(key, _held(b.state.value, b.position, b.entry_price))
    return {key: sums for key, sums in changes.items() if not sums.nothing}
