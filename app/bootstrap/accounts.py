"""Wiring of accounts and subscriptions: the directory intake and execution read (cached), and
the service the CLI and the API change them through."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from sqlalchemy import Engine

from app.adapters.redis.account_memo import RedisDirectoryMemo
from app.adapters.sql.accounts import SqlAccountStore
from app.adapters.sql.db import make_engine
from app.adapters.system import SystemClock
from app.bootstrap.connections import build_connections
from app.config.settings import Settings
from app.services.accounts import AccountDirectory, Accounts


def account_directory(
    settings: Settings, engine: Engine, *, remembered: bool = False
) -> AccountDirectory:
    """Accounts and subscriptions as intake and execution read them (read again every few
    seconds: a change made by another process is seen within that time); `remembered`: each
    new read is kept in Redis too, for intake to start on while the database does not answer."""
    memo = None
    if remembered and settings.redis_url is not None:
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        memo = RedisDirectoryMemo(client)
    return AccountDirectory(SqlAccountStore(engine), settings.risk, settings.sizing, memo=memo)


def build_accounts(
    settings: Settings, engine: Engine, directory: AccountDirectory | None = None
) -> Accounts:
    """The accounts service over `engine`'s database; `directory`: told of every change."""
    connections = build_connections(settings, engine)
    return Accounts(
        SqlAccountStore(engine),
        clock=SystemClock().now,
        connections=lambda: [c.name for c in connections.list_all()],
        changed=directory.forget if directory is not None else lambda: None,
    )


@contextmanager
def opened_accounts(settings: Settings) -> Iterator[Accounts]:
    """The accounts service for one command, its database engine closed after."""
    engine = make_engine(settings.database_url)
    try:
        yield build_accounts(settings, engine)
    finally:
        engine.dispose()
