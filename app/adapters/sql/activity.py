"""What the risk gate reads of an account's recent trading, besides its holdings: today's
realized P&L by currency (from `pnl_changes`), the orders of the last minute (replacements of a
stop-loss left out), the symbol's last stop-loss fill and partial fill, and the trading state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, or_, select, type_coerce
from sqlalchemy.types import NullType

from app.adapters.sql.execution_rows import exact, realized_today
from app.adapters.sql.flights import in_pipeline
from app.adapters.sql.prepared import Prepared
from app.adapters.sql.tables_execution import controls, orders, pnl_changes
from app.domain.orders import Leg

TRADING = "trading_state"  # the controls row of the trading state


def activity_values(account: str, symbol: str, now: datetime) -> dict[str, Any]:
    """The values the activity statements are asked with, for a read at `now`."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    since, yesterday = now - timedelta(minutes=1), day - timedelta(days=1)
    return {"account": account, "symbol": symbol, "day": day, "since": since,
            "yesterday": yesterday, "account_control": f"{TRADING}:{account}"}  # fmt: skip


def realized_by_currency() -> Any:
    """Today's realized P&L of the account (bound as `account`; the day as `day`) by currency,
    each `total` as the database sums it (exactly, on PostgreSQL)."""
    return (
        select(pnl_changes.c.currency,
               type_coerce(func.sum(pnl_changes.c.amount), NullType()).label("total"))
        .where(pnl_changes.c.account == bindparam("account"), pnl_changes.c.at >= bindparam("day"))
        .group_by(pnl_changes.c.currency)
    )  # fmt: skip


class AccountActivity:
    def __init__(self, engine: Engine) -> None:
        # The rest of the account in one row: today's realized P&L (its sum, its lowest and its
        # highest currency), then the activity (`activity_columns`).
        account: Any = bindparam("account")
        today = (pnl_changes.c.account == account, pnl_changes.c.at >= bindparam("day"))
        self._activity = Prepared(
            engine,
            select(
                select(type_coerce(func.coalesce(func.sum(pnl_changes.c.amount), 0), NullType()))
                .where(*today)
                .scalar_subquery(),
                select(func.min(pnl_changes.c.currency)).where(*today).scalar_subquery(),
                select(func.max(pnl_changes.c.currency)).where(*today).scalar_subquery(),
                *self.activity_columns(),
            ),
        )
        # today's realized P&L by currency, read when it is in more than one
        self._realized_by_currency = Prepared(engine, realized_by_currency())

    def ask(
        self, conn: Connection, account: str, symbol: str, now: datetime
    ) -> Callable[[], tuple[Sequence[Any], dict[str, Decimal]]]:
        """Ask for the activity row (orders of the last minute, last stop-loss fill and partial
        fill, trading state) and today's realized P&L by currency; the function that reads the
        answers. On PostgreSQL both travel in the transaction's round trip; SQLite, which
        answers at once, is asked by currency only when the P&L is in more than one."""
        values = activity_values(account, symbol, now)
        row = self._activity.ask(conn, values)
        by_currency = None
        if in_pipeline(conn) is not None or realized_today(*row.rows()[0][:3]) is None:
            by_currency = self._realized_by_currency.ask(conn, values)

        def answers() -> tuple[Sequence[Any], dict[str, Decimal]]:
            ((total, lowest, highest, *activity),) = row.rows()
            realized = realized_today(total, lowest, highest)
            if realized is None:
                assert by_currency is not None  # asked when there are several
                realized = {currency: exact(amount) for currency, amount in by_currency.rows()}
            return activity, realized

        return answers

    @staticmethod
    def activity_columns() -> list[Any]:
        """The activity, a column each: the orders of the last minute, the symbol's last
        stop-loss fill and partial fill, the trading state and the account's own."""
        account: Any = bindparam("account")
        return [
            select(func.count())
            .where(
                orders.c.account == account,
                orders.c.created_at >= bindparam("since"),
                or_(orders.c.leg != Leg.STOP_LOSS.value, orders.c.revision == 0),
            )
            .scalar_subquery(),
            *(
                select(func.max(orders.c.updated_at))
                .where(
                    orders.c.account == account,
                    orders.c.symbol == bindparam("symbol"),
                    orders.c.leg == Leg.STOP_LOSS.value,
                    orders.c.state == state,
                    orders.c.updated_at >= bindparam("yesterday"),
                )
                .scalar_subquery()
                for state in ("filled", "partially_filled")
            ),
            select(controls.c.value).where(controls.c.name == TRADING).scalar_subquery(),
            select(controls.c.value)
            .where(controls.c.name == bindparam("account_control"))
            .scalar_subquery(),
        ]
