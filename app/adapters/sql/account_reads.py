"""The account as the risk gate reads it for one signal, asked in one view of the book (one
round trip on PostgreSQL): its holdings, resting entries, recent activity and trading state,
which reserved entries are on record, and the symbol's brackets in doubt."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, bindparam, select

from app.adapters.sql.activity import AccountActivity
from app.adapters.sql.execution_rows import account_state
from app.adapters.sql.holdings import HoldingRows
from app.adapters.sql.open_entries import OpenEntries
from app.adapters.sql.prepared import Prepared, none_of
from app.adapters.sql.tables_execution import brackets, orders
from app.domain.brackets.bracket import FINAL, Bracket
from app.domain.orders import OrderState
from app.ports.execution import AccountState

_FINAL = [s.value for s in FINAL]


def doubtful_ids() -> Any:
    """The brackets of the account and symbol (bound as `account`, `symbol`) with an order in
    doubt (sent, never confirmed: state unknown, no venue id), found by the orders' state index."""
    return select(orders.c.bracket_id).where(
        orders.c.account == bindparam("account"),
        orders.c.symbol == bindparam("symbol"),
        orders.c.state == OrderState.UNKNOWN.value,
        orders.c.order_id.is_(None),
    )


class AccountReads:
    def __init__(self, engine: Engine, holdings: HoldingRows) -> None:
        self._holdings = holdings
        self._entries = OpenEntries(engine)
        self._activity = AccountActivity(engine)
        # the open brackets of an account and symbol with an order in doubt
        self._in_doubt = Prepared(
            engine,
            select(brackets.c.data)
            .where(brackets.c.id.in_(doubtful_ids()), none_of(brackets.c.state, _FINAL))
            .order_by(brackets.c.id),
        )

    def ask(
        self,
        conn: Connection,
        account: str,
        symbol: str,
        now: datetime,
        reserved: Collection[str],
    ) -> Callable[[], AccountState]:
        """Ask, in the caller's view of the book (`conn`); the function that reads the answers."""
        on_record = self._entries.on_record(conn, reserved)
        resting = self._entries.resting(conn, account)
        held = self._holdings.of_account(conn, account)
        activity = self._activity.ask(conn, account, symbol, now)
        doubtful = self._in_doubt.ask(conn, {"account": account, "symbol": symbol})

        def answers() -> AccountState:
            recent, realized = activity()
            return msgspec.structs.replace(
                account_state(held(), recent, symbol, realized),
                resting=resting(),
                on_record=on_record(),
                in_doubt=tuple(msgspec.convert(data, Bracket) for (data,) in doubtful.rows()),
            )

        return answers
