"""The SQL engine of each long-running process (web, forwarder, worker, monitor, strategy,
notifier)."""

from __future__ import annotations

from sqlalchemy import Engine

from app.adapters.sql.db import make_engine
from app.config.settings import Settings


def process_engine(settings: Settings, *, background_checkpoints: bool = True) -> Engine:
    """The process's one engine: on PostgreSQL at most DB_POOL_SIZE + DB_MAX_OVERFLOW connections
    (README, "Database connections"); on SQLite, WAL checkpoints off the commits' path unless
    `background_checkpoints` is False (a process that only reads)."""
    return make_engine(
        settings.database_url,
        background_checkpoints=background_checkpoints,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
