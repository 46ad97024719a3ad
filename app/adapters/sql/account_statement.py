"""The account as the risk gate reads it, in one statement on PostgreSQL: a statement sees one
snapshot of the book on its own, so it needs no REPEATABLE READ transaction around it, and the
driver and the server do their per-statement work once instead of once per read (five or six,
and BEGIN and COMMIT, with `AccountReads`). The lists come back as JSON text, their money as
text (exact), decoded here; the single values as columns of their own."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import (
    Connection,
    Engine,
    String,
    Text,
    any_,
    bindparam,
    cast,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by

from app.adapters.sql.account_reads import doubtful_ids
from app.adapters.sql.activity import AccountActivity, activity_values, realized_by_currency
from app.adapters.sql.execution_rows import account_state
from app.adapters.sql.open_entries import OPEN_BRACKETS, open_entry_orders, resting_entries
from app.adapters.sql.prepared import Prepared, among
from app.adapters.sql.tables_execution import brackets, holdings
from app.domain.brackets.bracket import FINAL, Bracket
from app.ports.execution import AccountState, Holding

_FINAL = [s.value for s in FINAL]
# money comes as text; a number that does not is still read exactly, never as a float
_json_rows = msgspec.json.Decoder(list[list[Any]] | None, float_hook=Decimal)
_json_brackets = msgspec.json.Decoder(list[Bracket] | None)
_json_ids = msgspec.json.Decoder(list[str] | None)


def _listed(*columns: Any, order_by: tuple[Any, ...] = ()) -> Any:
    """The rows' `columns` as JSON text: an array of arrays (NULL: no row)."""
    row = func.json_build_array(*columns)
    return cast(func.json_agg(aggregate_order_by(row, *order_by) if order_by else row), Text)


def _exact(column: Any) -> Any:
    return cast(column, Text)  # NUMERIC as its exact digits (a JSON number may be read as float)


class AccountStatement:
    """The statement, compiled once (`Prepared`)."""

    def __init__(self, engine: Engine) -> None:
        account: Any = bindparam("account")
        held = (
            select(_listed(holdings.c.venue, holdings.c.symbol, holdings.c.side,
                           _exact(holdings.c.position), _exact(holdings.c.cost),
                           holdings.c.brackets,
                           order_by=(holdings.c.venue, holdings.c.symbol, holdings.c.side)))
            .where(holdings.c.account == account)
        )  # fmt: skip
        entries = open_entry_orders().subquery()
        resting = select(
            _listed(entries.c.bracket_id, entries.c.venue, entries.c.symbol,
                    _exact(entries.c.amount), _exact(entries.c.filled), _exact(entries.c.price),
                    _exact(entries.c.trigger_price), order_by=(entries.c.id,))
        ).select_from(entries)  # fmt: skip
        by_currency = realized_by_currency().subquery()
        realized = select(_listed(by_currency.c.currency, _exact(by_currency.c.total)))
        in_doubt = select(
            cast(func.json_agg(aggregate_order_by(brackets.c.data, brackets.c.id)), Text)
        ).where(brackets.c.id.in_(doubtful_ids()), ~among(brackets.c.state, _FINAL))
        on_record = select(cast(func.json_agg(brackets.c.id), Text)).where(
            brackets.c.id == any_(bindparam("reserved", type_=ARRAY(String))),
            among(brackets.c.state, OPEN_BRACKETS),
        )
        self._statement = Prepared(
            engine,
            select(
                *AccountActivity.activity_columns(),
                *(q.scalar_subquery() for q in (held, resting, realized, in_doubt, on_record)),
            ),
        )

    def ask(
        self,
        conn: Connection,
        account: str,
        symbol: str,
        now: datetime,
        reserved: Collection[str],
    ) -> Callable[[], AccountState]:
        """Ask on `conn`; the function that reads the answer."""
        values = {**activity_values(account, symbol, now), "reserved": list(reserved)}
        answer = self._statement.ask(conn, values)

        def answers() -> AccountState:
            ((*activity, held, resting, realized, in_doubt, on_record),) = answer.rows()
            state = account_state(
                [Holding.summed(v, s, side, Decimal(p), Decimal(c), n)
                 for v, s, side, p, c, n in _json_rows.decode(held or "null") or ()],
                activity,
                symbol,
                {currency: Decimal(total)
                 for currency, total in _json_rows.decode(realized or "null") or ()},
            )  # fmt: skip
            return msgspec.structs.replace(
                state,
                resting=resting_entries(_json_rows.decode(resting or "null") or []),
                on_record=frozenset(_json_ids.decode(on_record or "null") or ()),
                in_doubt=tuple(_json_brackets.decode(in_doubt or "null") or ()),
            )

        return answers
