"""Redis's errors as the ports' `Unavailable`, said the way each adapter says it."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from app.adapters.redis.errors import unavailable
from app.ports.errors import Unavailable


def test_a_named_failure_says_what_failed_and_the_errors_kind() -> None:
    refused = RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    what, expected = "reservations unreadable", r"^reservations unreadable \(ConnectionError\)$"
    with pytest.raises(Unavailable, match=expected) as raised, unavailable(what):
        raise refused
    assert raised.value.__cause__ is refused


def test_an_unnamed_failure_gives_the_errors_own_words_and_a_socket_error_counts() -> None:
    with pytest.raises(Unavailable, match=r"^timed out$"), unavailable():
        raise TimeoutError("timed out")  # an OSError: the socket's own


def test_other_errors_pass_through() -> None:
    with pytest.raises(KeyError), unavailable("not this"):
        raise KeyError("x")
