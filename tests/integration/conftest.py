"""Real components: the machine's Redis (or an embedded one) and databases migrated by alembic."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy

from app.adapters.redis.server import answers, start_embedded
from app.adapters.sql.db import make_engine
from app.bootstrap.local import migrate
from app.config.settings import Settings, database_url
from tests.cli_processes import cli_processes  # noqa: F401 - a fixture
from tests.fake_binance import RunningFake, serve_fake_binance

REDIS_DB = 9  # keep off the default database of a developer's Redis


def _worker_db(url: str) -> str:
    """Under pytest-xdist each worker flushes a database of its own: the URL's (or 0), then
    the ones below it (gw0 the URL's own, gw1 one below...)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw") or 0)
    if not index:
        return url
    base, _, db = url.rpartition("/")
    number = int(db) if db.isdigit() else 0
    if number < index or not base.startswith(("redis://", "rediss://")):
        raise RuntimeError(f"REDIS_TEST_URL {url} leaves no database for xdist worker {worker}")
    return f"{base}/{number - index}"


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_TEST_URL, else the machine's Redis, else an embedded one for this session (a
    database per xdist worker)."""
    configured = os.environ.get("REDIS_TEST_URL")
    if configured:
        yield _worker_db(configured)
        return
    local = _worker_db(f"redis://127.0.0.1:6379/{REDIS_DB}")
    if answers(local):
        yield local
        return
    url, process = start_embedded(tmp_path_factory.mktemp("redis"))
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    yield redis_server_url
    client.flushdb()
    client.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> str:
    """Each test once on SQLite and once on PostgreSQL, migrated."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(database: str) -> Iterator[sqlalchemy.Engine]:
    engine = make_engine(database)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'signalgate.db'}"
    migrate(Settings(database_url=url))
    return url


POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    url = database_url(POSTGRES_URL)
    try:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except sqlalchemy.exc.OperationalError:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL.split('@')[-1]}: skipped")
    return url


@pytest.fixture
def postgres_url(postgres_empty_url: str) -> str:
    """A fresh database at the newest migration."""
    migrate(Settings(database_url=postgres_empty_url))
    return postgres_empty_url


@pytest.fixture
def postgres_empty_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"signalgate_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = postgres_server.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def fake() -> Iterator[RunningFake]:
    """The local fake Binance (spot), served for one test."""
    with serve_fake_binance() as running:
        yield running
