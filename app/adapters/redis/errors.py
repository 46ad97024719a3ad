"""Redis's errors as the ports' `Unavailable`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError

from app.ports.errors import Unavailable

# what a lost or refused connection raises: redis-py's errors, or the socket's own
REDIS_ERRORS = (RedisError, OSError)


@contextmanager
def unavailable(what: str | None = None) -> Iterator[None]:
    """Raise Redis's errors in the block as `Unavailable`: "`what` (the error's kind)", or the
    error's own words when `what` is None.

    Raises:
        Unavailable: Redis could not be reached, or refused the command.
    """
    try:
        yield
    except REDIS_ERRORS as exc:
        raise Unavailable(str(exc) if what is None else f"{what} ({type(exc).__name__})") from exc
