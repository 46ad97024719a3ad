"""PostgreSQL keeps a prepared statement's generic plan, costed on its tables as they were when
it was made, until a table is analysed again (autovacuum: a minute later at the earliest). A new
deployment's statements are planned on small tables, where a sequential scan is cheapest; as the
tables grow, a connection drops its plans (DISCARD PLANS with a transaction's BEGIN, after 50
transactions, then 200, 800, ...), and its statements are planned again on the tables as they
are: by their index."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy
from sqlalchemy import Column, MetaData, String, Table, bindparam, event, select

from app.adapters.sql.db import make_engine, transaction
from app.adapters.sql.prepared import Prepared

ROWS = 50_000


def _generic_plans(dbapi: Any, _record: object) -> None:
    dbapi.autocommit = True
    dbapi.execute("SET plan_cache_mode = force_generic_plan")
    dbapi.autocommit = False


def _seq_scans(engine: sqlalchemy.Engine) -> int:
    """The sequential scans of `grown` so far, once every other connection's count is in."""
    deadline = time.monotonic() + 10
    last = -1
    while True:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_stat_force_next_flush()")
        with engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'grown'"
            ).scalar_one()
        if found == last or time.monotonic() > deadline:
            return int(found)
        last = found
        time.sleep(0.2)


def test_a_statement_planned_on_a_small_table_is_planned_again_once_it_grew(
    postgres_url: str,
) -> None:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0)  # the connection watched
    # PostgreSQL chooses between a generic plan and one made for the values by their estimated
    # costs; here it always keeps the generic one, as it does for the worker's larger statements
    event.listen(engine, "connect", _generic_plans)
    other = make_engine(postgres_url)  # writes the rows on a connection of its own
    grown = Table("grown", MetaData(), Column("id", String(26), primary_key=True),
                  Column("state", String(16)))  # fmt: skip
    try:
        with other.begin() as conn:  # a few rows, analysed (as autovacuum does early on)
            grown.create(conn)
            conn.exec_driver_sql("ALTER TABLE grown SET (autovacuum_enabled = false)")
            conn.exec_driver_sql("INSERT INTO grown SELECT 'first' || n, 'open'"
                                 " FROM generate_series(1, 20) AS n")  # fmt: skip
            conn.exec_driver_sql("ANALYZE grown")
        # a row by its key: on 20 rows, a plan reads the table; on 50,000, it takes the index
        wanted = Prepared(engine, select(grown.c.state).where(grown.c.id == bindparam("id")))
        ids = {"id": "none"}
        for _ in range(10):  # prepared by the driver, then a generic plan kept: the table is small
            with transaction(engine) as conn:
                wanted.rows(conn, ids)
        with other.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO grown SELECT 'id' || n, 'open' FROM generate_series(1, %s) AS n",
                (ROWS,),
            )
        for _ in range(250):
            with transaction(engine) as conn:
                assert wanted.rows(conn, ids) == []
        engine.dispose()  # its backend's counts go in as it ends
        # 260 sequential scans (the last 250 of 50,000 rows each) with the plan kept from the
        # small table; a few, until the connection's first DISCARD PLANS (its 50th transaction)
        assert _seq_scans(other) <= 60
    finally:
        engine.dispose()
        other.dispose()
