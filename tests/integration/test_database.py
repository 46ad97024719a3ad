"""Migrations up and down, and the signal store, on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy
from alembic.config import Config

from alembic import command
from app.adapters.sql import db
from app.adapters.sql.db import SqlSignalStore, make_engine, transaction
from app.adapters.sql.tables import EXACT_MONEY
from app.adapters.sql.tables_execution import pnl_days
from app.bootstrap.local import migrate
from app.config.settings import load_settings
from app.domain.signals import (
    Action,
    Signal,
    SignalRecord,
    SignalStatus,
    StopKind,
    StopLoss,
    TakeProfit,
)
from app.ports.errors import Unavailable
from app.ports.signals import SignalQuery

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def alembic_config(url: str) -> Config:
    config = Config("alembic.ini")
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    return config


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_go_down_and_up_again(database: str):
    assert {"signals", "signal_events", "alembic_version"} <= tables(database)
    command.downgrade(alembic_config(database), "base")
    assert tables(database) == {"alembic_version"}
    command.upgrade(alembic_config(database), "head")
    assert {"signals", "signal_events"} <= tables(database)


def test_the_account_channels_migration_goes_down_and_up_keeping_accounts_and_subscriptions(
    database: str,
) -> None:
    """0018 adds the accounts' channel columns in place: a batch would copy `accounts` on
    SQLite, and dropping the old table would take its subscriptions (ON DELETE CASCADE)."""
    engine = make_engine(database)
    at = T0.isoformat()
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO accounts (name, connections, limits, sizing, created_at, updated_at,"
                " notify_sealed, notify) VALUES ('main', '[]', '{}', '{}', :at, :at, 'sealed',"
                " '{\"channels\": []}')"
            ),
            {"at": at},
        )
        conn.execute(sqlalchemy.text(
            "INSERT INTO subscriptions (strategy, account, enabled, created_at)"
            " VALUES ('trend', 'main', true, :at)"), {"at": at})  # fmt: skip
    engine.dispose()
    command.downgrade(alembic_config(database), "0017")
    command.upgrade(alembic_config(database), "head")
    engine = make_engine(database)
    with engine.connect() as conn:
        kept = conn.execute(sqlalchemy.text("SELECT strategy, account FROM subscriptions")).all()
        columns = conn.execute(sqlalchemy.text("SELECT notify_sealed, notify FROM accounts")).all()
    engine.dispose()
    assert [tuple(row) for row in kept] == [("trend", "main")]
    assert [tuple(row) for row in columns] == [(None, None)]  # what 0018 added went with it


def record(n: int, status: SignalStatus = SignalStatus.QUEUED, **changes: object) -> SignalRecord:
    signal = Signal(
        symbol="BTC/USDT:USDT",
        action=Action.BUY,
        source="tradingview:native",
        quantity=Decimal("0.123456789012345678"),
        price=Decimal("65000.5"),
        take_profits=(TakeProfit(price=Decimal(67000)),),
        stop_loss=StopLoss(StopKind.PERCENT, Decimal("1.5")),
        strategy="s1",
        fired_at=T0,
    )
    return SignalRecord(
        id=f"01J{n:023d}",
        received_at=T0 + timedelta(seconds=n),
        status=status,
        signal=signal,
        dialect="native",
        dedupe_key=f"k{n}",
        payload={"symbol": "BTCUSDT.P", "qty": "0.123456789012345678"},
        **changes,  # type: ignore[arg-type]
    )


def test_store_round_trips_money_exactly_and_keeps_history(engine: sqlalchemy.Engine):
    store = SqlSignalStore(engine)
    store.add_many([record(1), record(2, SignalStatus.SPOOLED)])
    store.add_many([record(1)])  # repeated by the forwarder: kept once
    view = store.get(record(1).id)
    assert view is not None
    assert view.signal == record(1).signal
    assert view.signal.quantity == Decimal("0.123456789012345678")
    assert view.received_at == T0 + timedelta(seconds=1)
    assert [h.status for h in view.history] == ["queued"]

    assert [r.id for r in store.spooled(10)] == [record(2).id]
    store.set_status([record(2).id], SignalStatus.QUEUED, T0 + timedelta(minutes=1))
    assert store.spooled(10) == []
    assert [h.status for h in store.get(record(2).id).history] == ["spooled", "queued"]  # type: ignore[union-attr]

    assert store.first_since("k1", T0) == record(1).id
    assert store.first_since("k1", T0 + timedelta(seconds=5)) is None
    found = store.find(SignalQuery(strategy="s1", since=T0, limit=1))
    assert [v.id for v in found] == [record(2).id]
    store.ping()


def test_money_columns_are_numeric(engine: sqlalchemy.Engine):
    columns = {c["name"]: c["type"] for c in sqlalchemy.inspect(engine).get_columns("signals")}
    assert isinstance(columns["quantity"], sqlalchemy.Numeric)
    assert not isinstance(columns["quantity"], sqlalchemy.Float)
    assert isinstance(columns["price"], sqlalchemy.Numeric)


def test_heroku_postgres_url_migrates_the_real_server(postgres_empty_url: str):
    heroku_form = postgres_empty_url.replace("postgresql+psycopg://", "postgres://")
    settings = load_settings({"DATABASE_URL": heroku_form})
    assert settings.database_url == postgres_empty_url
    migrate(settings)
    assert "signals" in tables(postgres_empty_url)


def test_a_long_running_process_checkpoints_the_sqlite_wal_in_the_background(tmp_path):
    """No commit of a worker waits for SQLite's checkpoint (and its fsync): a thread copies the
    WAL into the database file, and does not create a file that is not there."""
    path = tmp_path / "a b.db"
    engine = make_engine(f"sqlite:///{path}", background_checkpoints=True)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE t (a TEXT)"))
            rows = [{"a": "x" * 500}] * 2000
            conn.execute(sqlalchemy.text("INSERT INTO t VALUES (:a)"), rows)
        assert path.stat().st_size < 100_000 < (tmp_path / "a b.db-wal").stat().st_size
        deadline = time.monotonic() + 10
        while path.stat().st_size < 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert path.stat().st_size > 1_000_000
        engine.dispose()
        for name in ("a b.db", "a b.db-wal", "a b.db-shm"):
            (tmp_path / name).unlink(missing_ok=True)
        time.sleep(1.5)  # a round of the thread while the file is gone
        assert not path.exists()
    finally:
        engine.dispose()


def test_a_write_transaction_takes_sqlites_write_lock_at_once_and_waits_for_it(tmp_path):
    """Another process's write lock is waited for (asked again every 0.1 ms, not after SQLite's
    1, 2, 5 ... ms sleeps); once taken, no other writer gets in before the commit; the
    connection's own wait is as it was afterwards."""
    url = f"sqlite:///{tmp_path / 'lock.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE t (a INTEGER)"))
    other = sqlite3.connect(
        tmp_path / "lock.db", timeout=0, isolation_level=None, check_same_thread=False
    )
    try:
        other.execute("BEGIN IMMEDIATE")  # another process writes for 0.2 s
        threading.Timer(0.2, other.execute, ["COMMIT"]).start()
        started = time.monotonic()
        with transaction(engine, write=True) as conn:
            waited = time.monotonic() - started
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")  # held before the first write
            conn.execute(sqlalchemy.text("INSERT INTO t VALUES (1)"))
            timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
        assert waited >= 0.15
        assert timeout == 30_000
        assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)
    finally:
        other.close()
        engine.dispose()


def test_a_write_lock_held_past_the_timeout_makes_the_database_unavailable(tmp_path, monkeypatch):
    monkeypatch.setattr(db, "_BUSY_TIMEOUT_S", 0.2)
    engine = make_engine(f"sqlite:///{tmp_path / 'held.db'}")
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("CREATE TABLE t (a INTEGER)"))
    other = sqlite3.connect(tmp_path / "held.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with (
            pytest.raises(Unavailable, match="locked by another process"),
            transaction(engine, write=True),
        ):
            pass
        with engine.connect() as conn:  # the connection waits as long as before
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200
    finally:
        other.close()
        engine.dispose()


def test_a_write_transaction_inside_another_on_the_same_connection_says_so():
    engine = make_engine("sqlite://")  # in memory: one connection per thread
    try:
        with (
            transaction(engine, write=True),
            pytest.raises(RuntimeError, match="inside another"),
            transaction(engine, write=True),
        ):
            pass
    finally:
        engine.dispose()


def test_the_account_read_migration_sums_each_days_pnl_changes_exactly(database: str) -> None:
    """0019 fills `pnl_days` from the `pnl_changes` kept so far: per account, UTC day and
    currency, summed exactly (0.1 + 0.2 is 0.3, not SQLite's float sum)."""
    command.downgrade(alembic_config(database), "0018")
    changes = sqlalchemy.table(
        "pnl_changes",
        sqlalchemy.column("account"),
        sqlalchemy.column("bracket_id"),
        sqlalchemy.column("currency"),
        sqlalchemy.column("at", sqlalchemy.DateTime(timezone=True)),
        sqlalchemy.column("amount", EXACT_MONEY),
    )
    late = datetime(2024, 5, 1, 23, 30, tzinfo=UTC)
    rows = [("main", "USDT", late, "0.1"), ("main", "USDT", late, "0.2"),
            ("main", "BTC", late, "-0.00001"), ("main", "USDT", late + timedelta(hours=1), "5"),
            ("other", "USDT", late, "-7.25")]  # fmt: skip
    engine = make_engine(database)
    with engine.begin() as conn:
        conn.execute(changes.insert(), [
            {"account": a, "bracket_id": "b", "currency": c, "at": at, "amount": Decimal(amount)}
            for a, c, at, amount in rows
        ])  # fmt: skip
    engine.dispose()
    command.upgrade(alembic_config(database), "head")
    engine = make_engine(database)
    try:
        with engine.connect() as conn:
            days = conn.execute(sqlalchemy.select(pnl_days)).all()
    finally:
        engine.dispose()
    assert sorted((a, d.isoformat(), c, amount) for a, d, c, amount in days) == [
        ("main", "2024-05-01", "BTC", Decimal("-0.00001")),
        ("main", "2024-05-01", "USDT", Decimal("0.3")),
        ("main", "2024-05-02", "USDT", Decimal("5")),
        ("other", "2024-05-01", "USDT", Decimal("-7.25")),
    ]
