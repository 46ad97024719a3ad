"""The risk gate's read of an account costs the same whatever the day has seen: counted in
SQLite's virtual machine instructions (deterministic, unlike time), a read after 400 brackets
filled earlier in the day, or in the last minute, costs what one after 10 does. It grew with
every fill of the day (today's realized P&L summed from every change of it), with every order of
the symbol (the orders in doubt looked for among all of them) and with every order of the last
minute (counted one by one). The orders of the last minute are still counted exactly, on SQLite
and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from msgspec.structs import replace
from sqlalchemy import event

from app.adapters.sql.db import make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.brackets.bracket import Bracket, LegOrder
from app.domain.orders import Leg, OrderKind, OrderState, Side, client_order_id
from tests.unit.test_brackets import entry, long

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
D = Decimal


def _filled(number: int) -> Bracket:
    """A bracket of its own whose take-profit sold half (a realized P&L change): two orders."""
    sid = f"01JX5Z3K8Q4W2N7R9T{number:08d}"
    part = LegOrder(Leg.TAKE_PROFIT, client_order_id(sid, Leg.TAKE_PROFIT), Side.SELL,
                    OrderKind.MARKET, D("0.010"), state=OrderState.PARTIALLY_FILLED,
                    order_id=f"t{number}", filled=D("0.005"), average_price=D(110))  # fmt: skip
    first = replace(entry(), client_order_id=client_order_id(sid, Leg.ENTRY), order_id=f"e{number}")
    return replace(long(first, part), id=sid)


def _counting(store_url: str) -> tuple[SqlExecutionStore, Callable[[], int], Callable[[], None]]:
    """A store on SQLite, a function that tells the VM instructions run since the last reset
    (in tens), and the reset."""
    engine = make_engine(store_url)
    steps = [0]

    def count(dbapi: sqlite3.Connection, _: object) -> None:
        def tick() -> int:
            steps[0] += 1
            return 0

        dbapi.set_progress_handler(tick, 10)

    event.listen(engine, "connect", count)

    def reset() -> None:
        steps[0] = 0

    return SqlExecutionStore(engine), lambda: steps[0], reset


@pytest.mark.parametrize("ago", [timedelta(hours=2), timedelta(seconds=20)])
def test_the_account_read_does_not_grow_with_the_day(sqlite_url: str, ago: timedelta) -> None:
    """Two hours ago: today, not in the last minute. Twenty seconds ago: in the last minute."""
    store, steps, reset = _counting(sqlite_url)
    recent = 2 if ago < timedelta(minutes=1) else 0  # orders a bracket adds to the last minute

    def read_cost(saved: int) -> int:
        store.account_state("default", "BTC/USDT", NOW)  # its statements prepared
        reset()
        state = store.account_state("default", "BTC/USDT", NOW)
        assert state.activity.realized_today == {"USDT": D("0.05") * saved}
        assert state.activity.orders_last_minute == recent * saved
        return steps()

    for number in range(10):
        store.save_bracket(_filled(number), NOW - ago)
    few = read_cost(10)
    for number in range(10, 400):
        store.save_bracket(_filled(number), NOW - ago)
    many = read_cost(400)
    assert many <= few * 1.2 + 20, f"{few} -> {many} (tens of SQLite instructions)"


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
def test_the_orders_of_the_last_minute_are_counted_exactly(
    database: str, request: pytest.FixtureRequest
) -> None:
    """From `now` less a minute on, to the microsecond; an order saved again counts once; the
    seconds kept for the count go after two minutes."""
    engine = make_engine(request.getfixturevalue(database))
    store = SqlExecutionStore(engine)
    now = NOW + timedelta(seconds=0.3)
    try:
        ages = [60.4, 60.000001, 60.0, 59.9, 59.5, 30, 0.1]  # seconds before `now`
        for number, age in enumerate(ages):
            store.save_bracket(_filled(number), now - timedelta(seconds=age))
        store.save_bracket(_filled(6), now)  # saved again: its orders are not new
        counted = store.account_state("default", "BTC/USDT", now).activity.orders_last_minute
        assert counted == 2 * 5  # two orders each of the brackets 60 s old and younger
        later = now + timedelta(seconds=59.85)  # the youngest, 0.1 s old at `now`, only
        assert store.account_state("default", "ETH/USDT", later).activity.orders_last_minute == 2
        # three minutes on, a new order: the seconds before its last two minutes are dropped
        store.save_bracket(_filled(9), now + timedelta(minutes=3))
        with engine.connect() as conn:
            kept = conn.exec_driver_sql("SELECT count(*) FROM order_counts").scalar()
        assert kept == 1
    finally:
        engine.dispose()
