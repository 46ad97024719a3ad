"""The risk gate's read of an account costs the same whatever the day has seen: counted in
SQLite's virtual machine instructions (deterministic, unlike time), a read after 400 brackets
filled earlier in the day costs what one after 10 does. It grew with every fill of the day
(today's realized P&L summed from every change of it) and with every order of the symbol (the
orders in doubt looked for among all of them)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from msgspec.structs import replace
from sqlalchemy import event

from app.adapters.sql.db import make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.brackets.bracket import LegOrder
from app.domain.orders import Leg, OrderKind, OrderState, Side, client_order_id
from tests.unit.test_brackets import entry, long

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
D = Decimal


def _filled(number: int) -> Any:
    """A bracket of its own whose take-profit sold half: a realized P&L change today."""
    sid = f"01JX5Z3K8Q4W2N7R9T{number:08d}"
    part = LegOrder(Leg.TAKE_PROFIT, client_order_id(sid, Leg.TAKE_PROFIT), Side.SELL,
                    OrderKind.MARKET, D("0.010"), state=OrderState.PARTIALLY_FILLED,
                    order_id=f"t{number}", filled=D("0.005"), average_price=D(110))  # fmt: skip
    first = replace(entry(), client_order_id=client_order_id(sid, Leg.ENTRY), order_id=f"e{number}")
    return replace(long(first, part), id=sid)


def test_the_account_read_does_not_grow_with_the_day(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    steps = [0]

    def count(dbapi: sqlite3.Connection, _: object) -> None:
        def tick() -> int:
            steps[0] += 1
            return 0

        dbapi.set_progress_handler(tick, 10)

    event.listen(engine, "connect", count)
    store = SqlExecutionStore(engine)
    earlier = NOW - timedelta(hours=2)  # today, and not among the orders of the last minute

    def read_cost() -> int:
        store.account_state("default", "BTC/USDT", NOW)  # its statements prepared
        steps[0] = 0
        state = store.account_state("default", "BTC/USDT", NOW)
        assert state.activity.realized_today == {"USDT": D("0.05") * saved}
        return steps[0]

    try:
        saved = 0
        for number in range(10):
            store.save_bracket(_filled(number), earlier)
            saved += 1
        few = read_cost()
        for number in range(10, 400):
            store.save_bracket(_filled(number), earlier)
            saved += 1
        many = read_cost()
        assert many <= few * 1.2 + 20, f"{few} -> {many} (tens of SQLite instructions)"
    finally:
        engine.dispose()
