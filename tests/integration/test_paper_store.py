"""Paper venues in SQL: a restart (new engine, new exchange) loses no order, balance or fill,
on SQLite and on the real PostgreSQL; each save writes only the changed rows; old history is
read back from SQL; migration 0003 moves 0002's JSON states into rows and back."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
import sqlalchemy

from alembic import command
from app.adapters.paper.exchange import DEFAULT_HISTORY_LIMIT, DEFAULT_RETENTION, PaperExchange
from app.adapters.paper.store import SqlPaperStore
from app.adapters.sql.db import make_engine
from app.domain.market import Market, OrderBook
from app.domain.orders import OrderKind, OrderState, Side
from app.domain.paper.state import PaperState
from app.domain.paper.venue import PaperVenue
from app.ports.errors import InvalidOrder, Unavailable
from tests.integration.test_database import alembic_config, tables
from tests.paper_helpers import SYMBOL, book, order

pytestmark = pytest.mark.anyio

D = Decimal
NOW = datetime(2026, 1, 1, tzinfo=UTC)
MARKET = Market(
    SYMBOL, "BTC", "USDT", amount_step=D("0.000001"), min_cost=D(10), taker_fee=D("0.001")
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


class Feed:
    def __init__(self) -> None:
        self.current = book(bids="99.5x1", asks="100.25x0.5 101.125x3")

    def __call__(self, symbol: str) -> OrderBook:
        return self.current


Restart = Callable[..., PaperExchange]


@pytest.fixture
def restart(database: str) -> Iterator[Restart]:
    """Opens the venue `paper` from the database on a new engine, as a new process would:
    `restart(feed, clock=lambda: NOW, retention=DEFAULT_RETENTION, history_limit=...)`."""
    engines: list[sqlalchemy.Engine] = []

    def open_exchange(
        feed: Feed,
        clock: Callable[[], datetime] = lambda: NOW,
        retention: timedelta = DEFAULT_RETENTION,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> PaperExchange:
        engine = make_engine(database)
        engines.append(engine)
        return PaperExchange.open(
            "paper",
            [MARKET],
            feed,
            clock,
            SqlPaperStore(engine),
            {"USDT": D("10000.123456789012345678"), "BTC": D(1)},
            retention=retention,
            history_limit=history_limit,
        )

    yield open_exchange
    for engine in engines:
        engine.dispose()


async def test_a_restart_keeps_balances_orders_and_fills_exactly(
    restart: Callable[[Feed], PaperExchange],
) -> None:
    feed = Feed()
    first = restart(feed)
    bought = await first.create_order(order(Side.BUY, OrderKind.MARKET, "0.7", client_id="m1"))
    resting = await first.create_order(
        order(Side.SELL, OrderKind.LIMIT, "0.3", price="105.5", client_id="l1")
    )
    balances = await first.balances()
    fills = await first.fills_since(SYMBOL, NOW)
    assert bought.state is OrderState.FILLED
    assert len(fills) == 2

    second = restart(feed)

    assert await second.balances() == balances
    assert balances["USDT"].free == D("10000.123456789012345678") - D("70.35") - D("0.07035")
    assert balances["BTC"].used == D("0.3")
    assert await second.fills_since(SYMBOL, NOW) == fills
    assert await second.fetch_order_by_client_id(SYMBOL, "m1") == bought
    assert await second.open_orders(SYMBOL) == [resting]

    feed.current = book(bids="106x5", asks="107x5")
    filled = await second.fetch_order(SYMBOL, resting.order_id)
    assert filled.state is OrderState.FILLED

    third = restart(feed)
    assert await third.open_orders() == []
    assert (await third.fetch_order(SYMBOL, resting.order_id)).state is OrderState.FILLED
    assert len(await third.fills_since(SYMBOL, NOW)) == 3
    assert (await third.balances())["USDT"].free == balances["USDT"].free + D("31.65") - D(
        "0.03165"
    )


async def test_a_cancel_survives_a_restart(restart: Callable[[Feed], PaperExchange]) -> None:
    feed = Feed()
    first = restart(feed)
    placed = await first.create_order(order(Side.BUY, OrderKind.LIMIT, "1", price="90"))
    await first.cancel_order(SYMBOL, placed.order_id)

    second = restart(feed)

    assert (await second.fetch_order(SYMBOL, placed.order_id)).state is OrderState.CANCELLED
    assert (await second.balances())["USDT"].used == D(0)


def test_an_unreachable_database_is_unavailable() -> None:
    engine = make_engine("sqlite:////nonexistent-dir/paper.db")
    with pytest.raises(Unavailable):
        SqlPaperStore(engine).load("paper")
    engine.dispose()


PAPER_TABLES = {"paper_venues", "paper_orders", "paper_balances", "paper_fills"}


def test_migrations_go_down_and_up_with_the_paper_tables(database: str) -> None:
    assert tables(database) >= PAPER_TABLES
    command.downgrade(alembic_config(database), "0002")
    assert PAPER_TABLES & tables(database) == {"paper_venues"}
    command.downgrade(alembic_config(database), "0001")
    assert "paper_venues" not in tables(database)
    assert {"signals", "signal_events"} <= tables(database)
    command.downgrade(alembic_config(database), "base")
    assert tables(database) == {"alembic_version"}
    command.upgrade(alembic_config(database), "head")
    assert tables(database) >= PAPER_TABLES


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def test_old_history_stays_in_sql_and_is_found_after_a_restart(restart: Restart) -> None:
    feed, clock = Feed(), Clock()
    first = restart(feed, clock)
    old = await first.create_order(order(Side.BUY, OrderKind.MARKET, "0.2", client_id="old"))
    old_fills = await first.fills_since(SYMBOL, NOW)
    resting = await first.create_order(
        order(Side.SELL, OrderKind.LIMIT, "0.1", price="150", client_id="rest")
    )
    clock.now = NOW + timedelta(hours=3)
    recent = await first.create_order(order(Side.BUY, OrderKind.MARKET, "0.1", client_id="new"))

    second = restart(feed, clock, timedelta(hours=1))

    memory = second.venue.snapshot()
    assert {o.client_order_id for o in memory.orders} == {"rest", "new"}
    assert {f.client_order_id for f in memory.fills} == {"new"}
    assert await second.fetch_order_by_client_id(SYMBOL, "old") == old
    assert await second.fetch_order(SYMBOL, old.order_id) == old
    assert await second.open_orders(SYMBOL) == [resting]
    assert await second.fetch_order_by_client_id(SYMBOL, "new") == recent
    fills = await second.fills_since(SYMBOL, NOW)
    assert fills == old_fills + await first.fills_since(SYMBOL, clock.now)
    with pytest.raises(InvalidOrder, match="already used"):
        await second.create_order(order(Side.BUY, OrderKind.MARKET, "0.1", client_id="old"))
    assert await second.balances() == await first.balances()


async def test_a_busy_venue_reopens_with_its_newest_history_only(restart: Restart) -> None:
    feed, clock = Feed(), Clock()
    first = restart(feed, clock)
    resting = await first.create_order(
        order(Side.SELL, OrderKind.LIMIT, "0.1", price="150", client_id="rest")
    )
    placed = []
    for number in range(12):  # a market buy, and its one fill, a second
        clock.now = NOW + timedelta(seconds=number)
        buy = order(Side.BUY, OrderKind.MARKET, "0.2", client_id=f"m{number}")
        placed.append(await first.create_order(buy))

    second = restart(feed, clock, history_limit=5)

    memory = second.venue.snapshot()
    newest = {f"m{number}" for number in range(7, 12)}
    assert {o.client_order_id for o in memory.orders} == {"rest"} | newest
    assert {f.client_order_id for f in memory.fills} == newest
    assert second.venue.history_since == NOW + timedelta(seconds=7)
    assert await second.open_orders(SYMBOL) == [resting]
    assert await second.fetch_order_by_client_id(SYMBOL, "m0") == placed[0]
    assert await second.fills_since(SYMBOL, NOW) == await first.fills_since(SYMBOL, NOW)
    with pytest.raises(InvalidOrder, match="already used"):
        await second.create_order(order(Side.BUY, OrderKind.MARKET, "0.1", client_id="m0"))


class RowsWritten:
    """Counts the rows each INSERT or UPDATE writes, by statement and table."""

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self.rows: Counter[str] = Counter()
        sqlalchemy.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        words = statement.split()
        verb = words[0].upper()
        if verb == "WITH" and "paper_fills" in statement:  # PostgreSQL's save in one statement
            for kind in ("balances", "orders", "fills"):
                if found := len(json.loads(parameters[kind])):
                    self.rows[f"INSERT paper_{kind}"] += found
            if parameters["number"] is not None:
                self.rows["UPDATE paper_venues"] += 1
        if verb in {"INSERT", "UPDATE"}:
            table = words[2] if verb == "INSERT" else words[1]
            # one statement may hold many rows' VALUES (PostgreSQL's sends of plain INSERTs)
            many_values = statement.count("), (") + 1
            self.rows[f"{verb} {table}"] += len(parameters) if executemany else many_values

    def take(self) -> dict[str, int]:
        taken = dict(self.rows)
        self.rows.clear()
        return taken


async def test_each_save_writes_only_the_rows_that_changed(database: str) -> None:
    engine = make_engine(database)
    feed = Feed()
    exchange = PaperExchange.open(
        "paper", [MARKET], feed, lambda: NOW, SqlPaperStore(engine), {"USDT": D(100_000)}
    )
    for _ in range(20):
        await exchange.create_order(order(Side.BUY, OrderKind.MARKET, "0.2"))
    written = RowsWritten(engine)

    await exchange.create_order(order(Side.BUY, OrderKind.LIMIT, "1", price="90"))
    assert written.take() == {
        "INSERT paper_orders": 1,
        "INSERT paper_balances": 1,  # USDT held; BTC untouched
        "UPDATE paper_venues": 1,  # the next order number
    }

    await exchange.create_order(order(Side.BUY, OrderKind.MARKET, "0.7"))
    assert written.take() == {
        "INSERT paper_orders": 1,
        "INSERT paper_balances": 2,
        "INSERT paper_fills": 2,  # two levels
        "UPDATE paper_venues": 1,
    }

    await exchange.balances()
    await exchange.open_orders(SYMBOL)
    assert written.take() == {}

    feed.current = book(bids="88x5", asks="89x5")
    await exchange.open_orders(SYMBOL)  # the resting buy fills
    assert written.take() == {
        "INSERT paper_orders": 1,
        "INSERT paper_balances": 2,
        "INSERT paper_fills": 1,
    }
    engine.dispose()


def venue_with_history() -> PaperVenue:
    venue = PaperVenue("old", [MARKET], {"USDT": D("5000.000000000000000001"), "BTC": D(2)})
    venue.on_book(Feed().current, NOW)
    venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.7", client_id="m"), NOW)
    venue.create_order(order(Side.SELL, OrderKind.LIMIT, "0.3", price="105.5", client_id="l"), NOW)
    venue.create_order(
        order(Side.SELL, OrderKind.STOP_MARKET, "0.2", trigger="90", client_id="s"), NOW
    )
    return venue


def same_state(state: PaperState) -> PaperState:
    """`state` with its balances in one order (rows come back in any order)."""
    return msgspec.structs.replace(state, balances=tuple(sorted(state.balances, key=str)))


def test_the_migration_moves_json_states_into_rows_and_back(database: str) -> None:
    command.downgrade(alembic_config(database), "0002")
    saved = venue_with_history().snapshot()
    as_0002_wrote_it = msgspec.to_builtins(saved)
    del as_0002_wrote_it["history_since"]  # 0002's states had no such field
    engine = make_engine(database)
    venues = sqlalchemy.table(
        "paper_venues",
        sqlalchemy.column("name"),
        sqlalchemy.column("state", sqlalchemy.JSON),
        sqlalchemy.column("updated_at", sqlalchemy.DateTime(timezone=True)),
    )
    with engine.begin() as conn:
        conn.execute(venues.insert().values(name="old", state=as_0002_wrote_it, updated_at=NOW))

    command.upgrade(alembic_config(database), "head")

    loaded = SqlPaperStore(engine).load("old")
    assert loaded is not None
    assert same_state(loaded) == same_state(saved)
    assert {b.asset: b.free for b in loaded.balances}["USDT"] == saved.balances[0].free

    command.downgrade(alembic_config(database), "0002")

    with engine.connect() as conn:
        state = conn.execute(sqlalchemy.select(venues.c.state)).scalar_one()
    assert same_state(msgspec.convert(state, PaperState)) == same_state(saved)
    engine.dispose()
