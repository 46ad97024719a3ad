"""The statements of `SqlExecutionStore`, compiled once per engine and run on the driver's cursor
(`Prepared`): a worker runs them for every signal. Reads are asked (`Prepared.ask`), so that on
PostgreSQL they travel together and with their transaction's BEGIN and COMMIT."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Engine, bindparam, select, update

from app.adapters.sql.activity import TRADING
from app.adapters.sql.db import dialect_insert, upsert
from app.adapters.sql.pnl_days import PnlDays
from app.adapters.sql.prepared import Prepared, any_of, none_of
from app.adapters.sql.tables import events, signals
from app.adapters.sql.tables_execution import brackets, controls, orders, pnl_changes
from app.domain.brackets.bracket import FINAL
from app.domain.signals import PENDING

_OPEN = [s.value for s in PENDING]
_FINAL = [s.value for s in FINAL]
ORDER_CHANGES = {"order_id", "state", "amount", "filled", "average_price", "price",
                  "trigger_price", "fee", "fee_currency", "reduce_only", "updated_at"}  # fmt: skip


class ExecutionStatements:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        prepared = functools.partial(Prepared, engine)
        # .inline(): no RETURNING of the new rows' ids, which nothing reads
        self.add_steps = prepared(events.insert().inline())
        self.set_status = prepared(
            update(signals)
            .where(signals.c.id == bindparam("signal_id"))
            .values(status=bindparam("new_status"), updated_at=bindparam("at"),
                    reason=bindparam("reason"))
        )  # fmt: skip
        self.add_pnl_changes = prepared(pnl_changes.insert().inline())
        self.pnl_days = PnlDays(engine)
        self.trading = prepared(select(controls.c.value).where(controls.c.name == TRADING))
        # the global state and an account's, together
        self.trading_of = prepared(
            select(controls.c.value).where(
                controls.c.name.in_([TRADING, bindparam("account_control")])
            )
        )
        self.bracket = prepared(
            select(brackets.c.data, brackets.c.version).where(brackets.c.id == bindparam("id"))
        )
        self.open_versions = prepared(
            select(brackets.c.id, brackets.c.version).where(none_of(brackets.c.state, _FINAL))
        )
        columns = (signals.c.id, signals.c.received_at, signals.c.status, signals.c.signal,
                   brackets.c.id.is_not(None).label("started"))  # fmt: skip
        self._pending_columns = select(*columns).select_from(
            signals.outerjoin(brackets, brackets.c.id == signals.c.id)
        )
        self.one_signal = prepared(self._pending_columns.where(signals.c.id == bindparam("id")))
        self.unit = prepared(self._pending_columns.where(signals.c.unit_id == bindparam("unit")))
        self.pending = prepared(
            self._pending_columns.where(
                signals.c.account == bindparam("account"),
                signals.c.symbol == bindparam("symbol"),
                any_of(signals.c.status, _OPEN),
                signals.c.id <= bindparam("up_to"),
            ).order_by(signals.c.id)
        )
        # an order's own columns (bracket, account, symbol, leg, side, kind, creation) never
        # change: left out of the update, their indexes are not rewritten (-40% per upsert)
        self.upsert_orders = prepared(
            upsert(dialect_insert(engine)(orders), ["venue", "client_order_id"],
                   keep={c.name for c in orders.columns} - ORDER_CHANGES)
        )  # fmt: skip
        self._states: dict[int, Prepared] = {}  # by the number of ids asked about
        self._open: dict[tuple[bool, bool], Prepared] = {}  # by which of account, symbol given

    def states(self, count: int) -> Prepared:
        """The states of `count` signals, their ids bound as id0, id1 ..."""
        if (statement := self._states.get(count)) is None:
            ids: list[Any] = [bindparam(f"id{n}") for n in range(count)]
            statement = self._states[count] = Prepared(
                self._engine,
                select(signals.c.id, signals.c.account, signals.c.symbol, signals.c.status).where(
                    any_of(signals.c.id, ids)
                ),
            )
        return statement

    def open_brackets(self, account: str | None, symbol: str | None) -> Prepared:
        """The open brackets (of `account` and `symbol` when given), by id."""
        key = (account is not None, symbol is not None)
        if (statement := self._open.get(key)) is None:
            query: Any = select(brackets.c.data, brackets.c.version).where(
                none_of(brackets.c.state, _FINAL)
            )
            if account is not None:
                query = query.where(brackets.c.account == bindparam("account"))
            if symbol is not None:
                query = query.where(brackets.c.symbol == bindparam("symbol"))
            statement = self._open[key] = Prepared(self._engine, query.order_by(brackets.c.id))
        return statement
