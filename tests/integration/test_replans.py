"""PostgreSQL keeps a prepared statement's generic plan, costed on its tables as they were when
it was made, until a table is analysed again (autovacuum: a minute later at the earliest). A new
deployment's statements are planned on small tables, where a sequential scan is cheapest; as the
tables grow, a connection analyses the tables changed most since their statistics and drops its
plans (with a transaction's BEGIN, after 50 transactions, then 200, 800, ...), and its statements
are planned again on the tables as they are: by their index. A table whose lock another holds
(autovacuum's VACUUM) is left to it, and nothing waits for it."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy
from sqlalchemy import Column, MetaData, String, Table, bindparam, event, select

from app.adapters.sql.db import make_engine, transaction
from app.adapters.sql.flights import FIRST_REPLAN
from app.adapters.sql.prepared import Prepared

ROWS = 50_000


def _generic_plans(dbapi: Any, _record: object) -> None:
    dbapi.autocommit = True
    dbapi.execute("SET plan_cache_mode = force_generic_plan")
    dbapi.execute("SET statement_timeout = '5s'")  # a statement waiting for a lock fails the test
    dbapi.autocommit = False


def _watched(url: str) -> sqlalchemy.Engine:
    """One connection, whose statements always keep their generic plan (PostgreSQL chooses
    between it and one made for the values by their estimated costs, and keeps the generic one
    for the worker's larger statements)."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    event.listen(engine, "connect", _generic_plans)
    return engine


def _grown(engine: sqlalchemy.Engine) -> Table:
    """`grown`: 20 rows, analysed (as autovacuum does early on), autovacuum off."""
    grown = Table("grown", MetaData(), Column("id", String(26), primary_key=True),
                  Column("state", String(16)))  # fmt: skip
    with engine.begin() as conn:
        grown.create(conn)
        conn.exec_driver_sql("ALTER TABLE grown SET (autovacuum_enabled = false)")
        conn.exec_driver_sql("INSERT INTO grown SELECT 'first' || n, 'open'"
                             " FROM generate_series(1, 20) AS n")  # fmt: skip
        conn.exec_driver_sql("ANALYZE grown")
    return grown


def _grow(engine: sqlalchemy.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO grown SELECT 'id' || n, 'open' FROM generate_series(1, %s) AS n", (ROWS,)
        )
    with engine.begin() as conn:  # the rows counted in the statistics now, not within a second
        conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")


def _counts(engine: sqlalchemy.Engine) -> tuple[int, int]:
    """The sequential scans and the ANALYZEs of `grown` so far, once every other connection's
    counts are in."""
    deadline = time.monotonic() + 10
    last = None
    while True:
        with engine.connect() as conn:
            found = tuple(conn.exec_driver_sql(
                "SELECT seq_scan, analyze_count FROM pg_stat_user_tables WHERE relname = 'grown'"
            ).one())  # fmt: skip
        if found == last or time.monotonic() > deadline:
            return int(found[0]), int(found[1])
        last = found
        time.sleep(0.2)


def test_a_statement_planned_on_a_small_table_is_planned_again_once_it_grew(
    postgres_url: str,
) -> None:
    engine = _watched(postgres_url)
    other = make_engine(postgres_url)  # writes the rows on a connection of its own
    try:
        grown = _grown(other)
        # a row by its key: on 20 rows, a plan reads the table; on 50,000, it takes the index
        wanted = Prepared(engine, select(grown.c.state).where(grown.c.id == bindparam("id")))
        ids = {"id": "none"}
        for _ in range(10):  # prepared by the driver, then a generic plan kept: the table is small
            with transaction(engine) as conn:
                wanted.rows(conn, ids)
        _grow(other)
        for _ in range(250):
            with transaction(engine) as conn:
                assert wanted.rows(conn, ids) == []
        engine.dispose()  # its backend's counts go in as it ends
        scans, analyses = _counts(other)
        # 260 sequential scans (the last 250 of 50,000 rows each) with the plan kept from the
        # small table; a few, until the connection's first DISCARD PLANS (its 50th transaction)
        assert scans <= 60
        assert analyses >= 2  # grown 2,500-fold since the test's own ANALYZE: analysed again
    finally:
        engine.dispose()
        other.dispose()


def test_a_table_another_holds_is_left_unanalysed_and_nothing_waits_for_it(
    postgres_url: str,
) -> None:
    engine = _watched(postgres_url)
    other = make_engine(postgres_url)
    try:
        grown = _grown(other)
        _grow(other)
        wanted = Prepared(engine, select(grown.c.state).where(grown.c.id == bindparam("id")))
        with other.connect() as holder:  # as autovacuum's VACUUM does, for minutes
            holder.exec_driver_sql("LOCK TABLE grown IN SHARE UPDATE EXCLUSIVE MODE")
            started = time.monotonic()
            for _ in range(60):  # past the connection's first ANALYZE and DISCARD PLANS
                with transaction(engine) as conn:
                    assert wanted.rows(conn, {"id": "none"}) == []
            waited = time.monotonic() - started
            holder.rollback()
        engine.dispose()
        assert _counts(other)[1] == 1  # the test's own only
        assert waited < 5  # the lock waited for 20 ms at most
    finally:
        engine.dispose()
        other.dispose()


def test_the_transaction_that_analyses_keeps_the_sessions_lock_timeout(postgres_url: str) -> None:
    """The ANALYZE's short lock timeout is its own: the statements of the transaction it is sent
    with (its 50th, where a save may wait for a row another holds) keep the session's."""
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)
    try:
        seen = set()
        for _ in range(FIRST_REPLAN + 1):
            with transaction(engine, write=True) as conn:
                seen.add(conn.exec_driver_sql("SHOW lock_timeout").scalar())
        assert seen == {"0"}
    finally:
        engine.dispose()
