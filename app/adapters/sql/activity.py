"""What the risk gate reads of an account's recent trading, besides its holdings: today's
realized P&L by currency (from `pnl_days`), the orders of the last minute (replacements of a
stop-loss left out; mostly from `order_counts`), the symbol's last stop-loss fill and partial
fill, and the trading state."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, or_, select

from app.adapters.sql.db import as_utc
from app.adapters.sql.pnl_days import utc_day
from app.adapters.sql.prepared import Prepared
from app.adapters.sql.tables_execution import controls, order_counts, orders, pnl_days
from app.domain.orders import Leg

TRADING = "trading_state"  # the controls row of the trading state


def activity_values(account: str, symbol: str, now: datetime) -> dict[str, Any]:
    """The values the activity statements are asked with, for a read at `now`."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    since, yesterday = now - timedelta(minutes=1), day - timedelta(days=1)
    # the orders of the last minute: the whole seconds after the one it starts in, counted
    # (`order_counts`), and that second's own from `since` on, as orders
    second = math.floor(as_utc(since).timestamp())
    return {"account": account, "symbol": symbol, "today": utc_day(now), "since": since,
            "since_second": second, "second_after": datetime.fromtimestamp(second + 1, UTC),
            "yesterday": yesterday, "account_control": f"{TRADING}:{account}"}  # fmt: skip


def realized_by_currency() -> Any:
    """Today's (bound as `today`) realized P&L of the account (bound as `account`) by currency,
    each as `total`: a row per currency, whatever the number of fills."""
    return select(pnl_days.c.currency, pnl_days.c.amount.label("total")).where(
        pnl_days.c.account == bindparam("account"), pnl_days.c.day == bindparam("today")
    )


class AccountActivity:
    def __init__(self, engine: Engine) -> None:
        self._activity = Prepared(engine, select(*self.activity_columns()))
        self._realized_by_currency = Prepared(engine, realized_by_currency())

    def ask(
        self, conn: Connection, account: str, symbol: str, now: datetime
    ) -> Callable[[], tuple[Sequence[Any], dict[str, Decimal]]]:
        """Ask for the activity row (orders of the last minute, last stop-loss fill and partial
        fill, trading state) and today's realized P&L by currency; the function that reads the
        answers (on PostgreSQL both travel in the transaction's round trip)."""
        values = activity_values(account, symbol, now)
        row = self._activity.ask(conn, values)
        by_currency = self._realized_by_currency.ask(conn, values)

        def answers() -> tuple[Sequence[Any], dict[str, Decimal]]:
            (activity,) = row.rows()
            return activity, dict(by_currency.rows())

        return answers

    @staticmethod
    def activity_columns() -> list[Any]:
        """The activity, a column each: the orders of the last minute, the symbol's last
        stop-loss fill and partial fill, the trading state and the account's own."""
        account: Any = bindparam("account")
        counted = (
            select(func.coalesce(func.sum(order_counts.c.n), 0))
            .where(order_counts.c.account == account,
                   order_counts.c.second > bindparam("since_second"))
            .scalar_subquery()
        )  # fmt: skip
        first_second = (
            select(func.count())
            .where(
                orders.c.account == account,
                orders.c.created_at >= bindparam("since"),
                orders.c.created_at < bindparam("second_after"),
                or_(orders.c.leg != Leg.STOP_LOSS.value, orders.c.revision == 0),
            )
            .scalar_subquery()
        )
        return [
            counted + first_second,
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
