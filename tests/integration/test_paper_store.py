"""Paper venue state in SQL: a restart (new engine, new exchange) loses no order, balance or
fill, on SQLite and on the real PostgreSQL; the migration goes down and up with its table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy

from alembic import command
from app.adapters.db import make_engine
from app.adapters.exchange_paper import PaperExchange
from app.adapters.paper_store import SqlPaperStore
from app.domain.market import Market, OrderBook
from app.domain.orders import OrderKind, OrderState, Side
from app.ports import Unavailable
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


@pytest.fixture
def restart(database: str) -> Iterator[Callable[[Feed], PaperExchange]]:
    """Opens the venue `paper` from the database on a new engine, as a new process would."""
    engines: list[sqlalchemy.Engine] = []

    def open_exchange(feed: Feed) -> PaperExchange:
        engine = make_engine(database)
        engines.append(engine)
        return PaperExchange.open(
            "paper",
            [MARKET],
            feed,
            lambda: NOW,
            SqlPaperStore(engine),
            {"USDT": D("10000.123456789012345678"), "BTC": D(1)},
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


def test_migrations_go_down_and_up_with_the_paper_table(database: str) -> None:
    assert "paper_venues" in tables(database)
    command.downgrade(alembic_config(database), "0001")
    assert "paper_venues" not in tables(database)
    assert {"signals", "signal_events"} <= tables(database)
    command.downgrade(alembic_config(database), "base")
    assert tables(database) == {"alembic_version"}
    command.upgrade(alembic_config(database), "head")
    assert "paper_venues" in tables(database)
