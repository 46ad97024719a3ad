"""Settings that depend on where signalgate runs: a Heroku dyno, and the database's pool."""

from __future__ import annotations

from collections.abc import Mapping

# Each process opens one SQLAlchemy engine (PostgreSQL): it keeps up to DB_POOL_SIZE connections
# open and opens up to DB_MAX_OVERFLOW more while that many are in use at once.
DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 5


def pool_overflow(raw: str) -> int:
    """DB_MAX_OVERFLOW: a whole number, 0 allowed (never more than the pool)."""
    hint = "use a whole number, 0 or more"
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError(hint) from None
    if value < 0:
        raise ValueError(hint)
    return value


def dyno_without_database(env: Mapping[str, str]) -> str | None:
    """The refusal of a Heroku dyno (`DYNO` set) without `DATABASE_URL`: the default SQLite file
    would be a throw-away one per dyno, lost at every restart and seen by no other process."""
    if env.get("DYNO") and env.get("DATABASE_URL") is None:
        return (
            "DATABASE_URL is not set on this dyno: add the heroku-postgresql add-on "
            "(or set DATABASE_URL), since a SQLite file on a dyno is lost at every restart."
        )
    return None
