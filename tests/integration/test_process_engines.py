"""DB_POOL_SIZE and DB_MAX_OVERFLOW bound the PostgreSQL connections of a long-running process's
engine, counted by the server itself (pg_stat_activity). tests/e2e/test_database_connections.py
counts those of each Procfile process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url

from app.bootstrap.database import process_engine
from app.config.settings import Settings
from tests.integration.helpers import eventually

pytestmark = pytest.mark.postgres


@pytest.fixture
def opened(postgres_url: str) -> Iterator[Callable[[], int]]:
    """How many connections the server has open to the test's database."""
    name = make_url(postgres_url).database
    admin = sqlalchemy.create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres")

    def count() -> int:
        with admin.connect() as conn:
            query = "SELECT count(*) FROM pg_stat_activity WHERE datname = :name"
            return int(conn.execute(sqlalchemy.text(query), {"name": name}).scalar_one())

    yield count
    admin.dispose()


def test_a_process_opens_its_pool_then_its_overflow_and_no_more(
    postgres_url: str,
    opened: Callable[[], int],
) -> None:
    engine = process_engine(Settings(database_url=postgres_url, db_pool_size=1, db_max_overflow=1))
    try:
        held = [engine.connect(), engine.connect()]  # the pool's one, then the overflow
        assert opened() == 2
        third: list[sqlalchemy.Connection] = []
        waiting = threading.Thread(target=lambda: third.append(engine.connect()), daemon=True)
        waiting.start()
        time.sleep(0.3)
        assert (waiting.is_alive(), opened()) == (True, 2)  # it waits for one to come back
        held.pop().close()
        waiting.join(10)
        assert (third != [], opened()) == (True, 2)  # the connection given back, not a new one
        third[0].close()
        held.pop().close()
        # the overflow is closed when given back (its server process ends a moment later); the
        # pool's stays open
        eventually(lambda: opened() == 1)
    finally:
        engine.dispose()
    eventually(lambda: opened() == 0)
