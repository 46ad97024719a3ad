"""The SQL store counts a bracket's realized P&L on the day each part of it was seen (a partial
take-profit as it fills, not at the close), per quote currency, and leaves replacements of a
stop-loss out of the orders of the last minute; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from msgspec.structs import replace

from alembic import command
from app.adapters.sql.db import make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.domain.brackets.bracket import Bracket, BracketState, LegOrder, with_order
from app.domain.brackets.pnl import settled
from app.domain.orders import Leg, OrderKind, OrderState, Side, client_order_id
from tests.integration.test_database import alembic_config
from tests.unit.test_brackets import SID, SPOT, entry, long

D = Decimal
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
DATABASES = ["sqlite_url", "postgres_url"]
ETH_BTC = replace(SPOT, symbol="ETH/BTC", base="ETH", quote="BTC", price_step=D("0.00001"))


def sell(leg: Leg, filled: str, price: str, *, revision: int = 0, state: OrderState) -> LegOrder:
    return LegOrder(leg, client_order_id(SID, leg, revision), Side.SELL, OrderKind.MARKET,
                    D("0.010"), revision=revision, state=state, order_id=f"{leg}{revision}",
                    filled=D(filled), average_price=D(price))  # fmt: skip


def realized(store: SqlExecutionStore, at: datetime) -> dict[str, Decimal]:
    return store.account_state("default", "BTC/USDT", at).activity.realized_today


@pytest.mark.parametrize("database", DATABASES)
def test_realized_pnl_counts_on_the_day_each_fill_is_seen(
    database: str, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(request.getfixturevalue(database))
    store = SqlExecutionStore(engine)
    yesterday = NOW - timedelta(days=1)
    try:
        # 0.010 BTC bought at 100; a take-profit sells half at 110 yesterday: +0.05, yesterday's
        part = sell(Leg.TAKE_PROFIT, "0.005", "110", state=OrderState.PARTIALLY_FILLED)
        bracket = long(entry(), part, take_profits=((D(110), D(1)),))
        store.save_bracket(bracket, yesterday)
        assert realized(store, yesterday) == {"USDT": D("0.05")}
        assert realized(store, NOW) == {}

        # today it sells 0.003 more, 0.008 at 109 on average: 0.072 so far, +0.022 of it today
        more = replace(part, filled=D("0.008"), average_price=D(109))
        bracket = with_order(bracket, more)
        store.save_bracket(bracket, NOW)
        store.save_bracket(bracket, NOW)  # saved again as it is: nothing more
        assert realized(store, NOW) == {"USDT": D("0.022")}

        # the stop sells the last 0.002 at 95 and the bracket settles: -0.01 more, once
        stop = sell(Leg.STOP_LOSS, "0.002", "95", state=OrderState.FILLED)
        done = settled(with_order(bracket, stop), BracketState.CLOSED, NOW)
        assert done.realized_pnl == D("0.062")
        store.save_bracket(done, NOW)
        store.save_bracket(done, NOW + timedelta(seconds=1))
        assert realized(store, NOW + timedelta(hours=1)) == {"USDT": D("0.012")}

        # a bracket quoted in BTC: today's P&L in two currencies, each summed
        eth = replace(
            long(replace(entry(price="0.03"), client_order_id="e2"),
                 replace(part, client_order_id="t2", average_price=D("0.031"))),
            id="01JX5Z3K8Q4W2N7R9T1V3B5C99", symbol="ETH/BTC", market=ETH_BTC,
        )  # fmt: skip
        store.save_bracket(eth, NOW)
        assert realized(store, NOW) == {"USDT": D("0.012"), "BTC": D("0.000005")}
    finally:
        engine.dispose()


@pytest.mark.parametrize("database", DATABASES)
def test_stop_loss_replacements_are_not_orders_of_the_last_minute(
    database: str, request: pytest.FixtureRequest
) -> None:
    engine = make_engine(request.getfixturevalue(database))
    store = SqlExecutionStore(engine)
    try:
        bracket: Bracket = long(entry())
        for revision in range(4):  # the stop placed, then trailed three times
            stop = sell(Leg.STOP_LOSS, "0", "95", revision=revision, state=OrderState.ACCEPTED)
            bracket = with_order(bracket, replace(stop, average_price=None))
            store.save_bracket(bracket, NOW)
        state = store.account_state("default", "BTC/USDT", NOW + timedelta(seconds=10))
        assert state.activity.orders_last_minute == 2  # the entry and the first stop
    finally:
        engine.dispose()


@pytest.mark.parametrize("database", DATABASES)
def test_the_migration_counts_the_brackets_closed_today(
    database: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(database)
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        store = SqlExecutionStore(engine)
        stop = sell(Leg.STOP_LOSS, "0.010", "95", state=OrderState.FILLED)
        store.save_bracket(settled(long(entry(), stop), BracketState.CLOSED, now), now)
        command.downgrade(alembic_config(url), "0008")
        command.upgrade(alembic_config(url), "head")
        assert realized(store, now) == {"USDT": D("-0.05")}
    finally:
        engine.dispose()
