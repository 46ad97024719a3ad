"""Paper venue benchmark: market orders filled per second against a 20-level book, in process
and persisted (each order saved before it is answered, as `PaperExchange` does with a store).

Alternates buys and sells of the same amount so balances hold; the book is built once. The
persisted cases run on a scratch SQLite file and, when reachable, a scratch PostgreSQL
database (TEST_POSTGRES_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/test),
first on a fresh venue, then on the same venue reopened (its older history now lives only in
SQL, so each new client order id is also checked there).
Run with `python -m bench.paper [--orders N] [--persisted-orders N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy

from app.adapters.paper.exchange import PaperExchange
from app.adapters.paper.store import SqlPaperStore
from app.adapters.sql.db import make_engine
from app.bootstrap.local import migrate
from app.config.settings import Settings, database_url
from app.domain.market import Level, Market, OrderBook
from app.domain.orders import OrderKind, OrderRequest, Side
from app.domain.paper.venue import PaperVenue

TARGET = 20_000  # market orders per second, in process
PERSISTED_TARGET = 2_000  # market orders per second, saved to SQLite
SYMBOL = "BTC/USDT"
POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def twenty_level_book() -> OrderBook:
    mid = Decimal(50_000)
    tick, size = Decimal("0.5"), Decimal("0.01")
    return OrderBook(
        SYMBOL,
        bids=tuple(Level(mid - tick * (i + 1), size) for i in range(20)),
        asks=tuple(Level(mid + tick * (i + 1), size) for i in range(20)),
    )


def run(orders: int, amount: Decimal) -> float:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    venue = PaperVenue(
        "paper",
        [Market(SYMBOL, "BTC", "USDT")],
        {"USDT": Decimal(10_000_000), "BTC": Decimal(100)},
    )
    venue.on_book(twenty_level_book(), now)
    requests = [
        OrderRequest(
            f"bench{i}", SYMBOL, Side.BUY if i % 2 == 0 else Side.SELL, OrderKind.MARKET, amount
        )
        for i in range(orders)
    ]
    create = venue.create_order
    started = time.perf_counter()
    for request in requests:
        create(request, now)
    elapsed = time.perf_counter() - started
    filled = sum(1 for o in (venue.order(str(i + 1)) for i in range(orders)) if o.filled == amount)
    assert filled == orders, f"only {filled} of {orders} filled"
    return orders / elapsed


async def persisted_rate(exchange: PaperExchange, prefix: str, orders: int) -> float:
    """Market orders per second through `exchange`, each saved before it is answered."""
    amount = Decimal("0.025")  # three levels: three fills, two balances, one order per save
    requests = [
        OrderRequest(
            f"{prefix}{i}", SYMBOL, Side.BUY if i % 2 == 0 else Side.SELL, OrderKind.MARKET, amount
        )
        for i in range(orders)
    ]
    create = exchange.create_order
    started = time.perf_counter()
    for request in requests:
        await create(request)
    return orders / (time.perf_counter() - started)


def run_persisted(url: str, orders: int) -> tuple[float, float]:
    """Orders/s on a fresh venue, then on the same venue reopened from the database."""
    book = twenty_level_book()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    clock = iter(now + timedelta(milliseconds=i) for i in range(10 * orders + 10))

    def opened(engine: sqlalchemy.Engine) -> PaperExchange:
        return PaperExchange.open(
            "paper",
            [Market(SYMBOL, "BTC", "USDT")],
            lambda _: book,
            lambda: next(clock),
            SqlPaperStore(engine),
            {"USDT": Decimal(10_000_000), "BTC": Decimal(100)},
            retention=timedelta(seconds=1),  # the reopened venue keeps little in memory
        )

    engine = make_engine(url)
    try:
        fresh = asyncio.run(persisted_rate(opened(engine), "fresh", orders))
        reopened = opened(engine)
        assert reopened.venue.history_since is not None
        again = asyncio.run(persisted_rate(reopened, "again", orders))
    finally:
        engine.dispose()
    return fresh, again


@contextmanager
def scratch_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        migrate(Settings(database_url=url))
        yield url


@contextmanager
def scratch_postgres() -> Iterator[str | None]:
    """A scratch database on the PostgreSQL server, dropped afterwards; None if unreachable."""
    server = database_url(POSTGRES_URL)
    admin = sqlalchemy.create_engine(
        server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"signalgate_bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.OperationalError:
        admin.dispose()
        yield None
        return
    try:
        url = server.rsplit("/", 1)[0] + f"/{name}"
        migrate(Settings(database_url=url))
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--persisted-orders", type=int, default=5_000)
    args = parser.parse_args()
    print(f"paper venue: {args.orders:,} market orders, 20-level book (target >= {TARGET:,}/s)")
    for label, amount in (("1 level each", Decimal("0.005")), ("3 levels each", Decimal("0.025"))):
        rate = run(args.orders, amount)
        verdict = "ok" if rate >= TARGET else "BELOW TARGET"
        print(f"  {label:>14}: {rate:>10,.0f} orders/s  [{verdict}]")
    print(
        f"persisted: {args.persisted_orders:,} market orders of 3 fills each, saved one by one "
        f"(SQLite target >= {PERSISTED_TARGET:,}/s)"
    )
    with scratch_sqlite() as url:
        fresh, again = run_persisted(url, args.persisted_orders)
    verdict = "ok" if min(fresh, again) >= PERSISTED_TARGET else "BELOW TARGET"
    print(f"  {'SQLite':>14}: {fresh:>10,.0f} orders/s fresh, {again:,.0f} reopened  [{verdict}]")
    with scratch_postgres() as postgres:
        if postgres is None:
            print(f"  {'PostgreSQL':>14}: not reachable at {POSTGRES_URL.split('@')[-1]}")
        else:
            fresh, again = run_persisted(postgres, args.persisted_orders)
            print(f"  {'PostgreSQL':>14}: {fresh:>10,.0f} orders/s fresh, {again:,.0f} reopened")


if __name__ == "__main__":
    main()
