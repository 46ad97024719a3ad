"""The one SQL engine of each long-running process, with the pool the settings ask for."""

from __future__ import annotations

from sqlalchemy import Engine

from app.adapters.sql.db import make_engine
from app.config.settings import Settings


def process_engine(settings: Settings) -> Engine:
    """The engine of a long-running process (web, forwarder, worker, monitor, strategy): at most
    DB_POOL_SIZE + DB_MAX_OVERFLOW PostgreSQL connections (README, "Database connections")."""
    return make_engine(
        settings.database_url,
        background_checkpoints=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
