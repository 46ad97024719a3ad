"""A venue library's errors as the port's: one lookup for every table that translates them."""

from __future__ import annotations

from app.ports.errors import ExchangeError

# (their error, the port's error): read top down, so a subclass goes above its base
ErrorTable = tuple[tuple[type[Exception], type[ExchangeError]], ...]


def translated(
    error: Exception, table: ErrorTable, otherwise: type[ExchangeError]
) -> ExchangeError:
    """The port's error for `error`, its message kept: the first row `error` is an instance of,
    else `otherwise`."""
    for theirs, ours in table:
        if isinstance(error, theirs):
            return ours(str(error))
    return otherwise(str(error))
