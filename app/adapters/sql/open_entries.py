"""The open entries of an account as the risk gate counts them: the entry orders of its open
brackets that have not filled (a resting limit or stop entry holds no position, yet takes a slot
and its notional of exposure), and which reserved entries already have an open bracket."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, or_, select

from app.adapters.sql.prepared import Prepared, among
from app.adapters.sql.tables_execution import brackets, orders
from app.domain.brackets.bracket import FINAL, BracketState
from app.domain.orders import TERMINAL, Leg, OrderState
from app.domain.reservations import RestingEntry

OPEN_BRACKETS = [s.value for s in BracketState if s not in FINAL]
_OPEN_ORDERS = [s.value for s in OrderState if s not in TERMINAL]


def open_entry_orders() -> Any:
    """The account's (bound as `account`) open entry orders, found by an index on account, leg
    and state (not from its open brackets: they grow with every position held); a bracket is
    final only once its entry is done, so they all belong to open brackets."""
    return select(orders.c.bracket_id, orders.c.venue, orders.c.symbol, orders.c.amount,
                  orders.c.filled, orders.c.price, orders.c.trigger_price, orders.c.id).where(
        orders.c.account == bindparam("account"),
        orders.c.leg == Leg.ENTRY.value,
        among(orders.c.state, _OPEN_ORDERS),
    )  # fmt: skip


class OpenEntries:
    def __init__(self, engine: Engine) -> None:
        self._resting = Prepared(engine, open_entry_orders())
        self._engine = engine
        self._open_among: dict[int, Prepared] = {}  # by the number of ids asked about

    def resting(self, conn: Connection, account: str) -> Callable[[], tuple[RestingEntry, ...]]:
        """Ask for the account's resting entries; the function that reads the answer."""
        answer = self._resting.ask(conn, {"account": account})
        return lambda: resting_entries(answer.rows())

    def on_record(self, conn: Connection, ids: Collection[str]) -> Callable[[], frozenset[str]]:
        """Ask which of the entries `ids` have an open bracket; the function that reads the
        answer."""
        if not ids:
            return frozenset
        statement = self._open_among.get(len(ids))
        if statement is None:
            statement = self._open_among[len(ids)] = Prepared(
                self._engine,
                select(brackets.c.id).where(
                    or_(*(brackets.c.id == bindparam(f"id{n}") for n in range(len(ids)))),
                    among(brackets.c.state, OPEN_BRACKETS),
                ),
            )
        answer = statement.ask(conn, {f"id{n}": entry_id for n, entry_id in enumerate(ids)})
        return lambda: frozenset(row[0] for row in answer.rows())


def resting_entries(rows: Sequence[Sequence[Any]]) -> tuple[RestingEntry, ...]:
    """From rows of `open_entry_orders` (their money as Decimals or exact text; their ids, if
    any, last)."""
    found: dict[str, RestingEntry] = {}
    for bracket_id, venue, symbol, amount, filled, price, trigger, *_ in rows:
        at = price if price is not None else trigger
        notional = None if at is None else (Decimal(amount) - Decimal(filled)) * Decimal(at)
        if (before := found.get(bracket_id)) is not None:  # a bracket's entry revisions
            notional = _sum(before.notional, notional)
        found[bracket_id] = RestingEntry(bracket_id, venue, symbol, notional)
    return tuple(found.values())


def _sum(one: Decimal | None, other: Decimal | None) -> Decimal | None:
    return None if one is None or other is None else one + other
