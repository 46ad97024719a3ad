"""Alembic environment: the URL comes from app.config.settings (DATABASE_URL), the tables from
SQLModel."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from app.adapters.sql import (  # noqa: F401 - registers their tables
    tables_accounts,
    tables_connections,
    tables_execution,
    tables_reconciliation,
)
from app.adapters.sql.db import make_engine
from app.adapters.sql.tables import metadata
from app.config.settings import load_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

url = config.attributes.get("database_url") or load_settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=url,
        target_metadata=metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=url.startswith("sqlite"),
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
