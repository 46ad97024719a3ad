"""Wiring of the release phase and the local run: the database schema, and which Redis to use."""

from __future__ import annotations

from pathlib import Path

from app.adapters.redis.server import LOCAL, answers, start_embedded
from app.config.settings import Settings

STATE_DIR = Path(".signalgate")
_ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def migrate(settings: Settings) -> None:
    """Bring the database schema to the newest migration (alembic upgrade head)."""
    from alembic.config import Config  # noqa: PLC0415

    from alembic import command  # noqa: PLC0415 - only the commands that migrate pay for alembic

    config = Config(str(_ALEMBIC_INI))
    config.attributes["database_url"] = settings.database_url
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def local_redis() -> str | None:
    """The Redis on 127.0.0.1:6379 when one answers."""
    return LOCAL if answers(LOCAL) else None


def resolve_redis(settings: Settings) -> tuple[str, object | None, str | None]:
    """REDIS_URL, else the Redis on 127.0.0.1:6379, else an embedded one.

    Returns:
        The URL, the embedded server's process (to terminate) or None, and a line for the user
        when the choice was not REDIS_URL.
    """
    if settings.redis_url:
        return settings.redis_url, None, None
    if local := local_redis():
        return local, None, "REDIS_URL is not set; using the Redis at 127.0.0.1:6379"
    url, process = start_embedded(STATE_DIR / "redis")
    return (
        url,
        process,
        f"no Redis reachable; started an embedded Redis at {url} (data in {STATE_DIR})",
    )
