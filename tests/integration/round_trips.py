"""Round trips to PostgreSQL, counted from libpq's trace of the protocol: a round trip is a run
of messages the client sends after an answer came back (the first one included)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import sqlalchemy
from psycopg import pq

_MESSAGE = re.compile(r"([FB])\t\d+\t(\w+)")  # a message the client (F) or the server (B) sent


_RUNS = ("Bind", "Query")  # a statement run: by the extended protocol, or the simple one


class RoundTrips:
    """Counts the round trips of every connection `engine` opens from now on (libpq's traces
    go to files in `directory`)."""

    def __init__(self, engine: sqlalchemy.Engine, directory: Path) -> None:
        self._dir = directory
        self._traced: list[tuple[Any, Path]] = []
        sqlalchemy.event.listen(engine, "connect", self._connected)

    def _connected(self, raw: Any, _record: Any) -> None:
        path = self._dir / f"{len(self._traced)}.trace"
        self._traced.append((raw, path))
        self._trace(raw, path)

    @staticmethod
    def _trace(raw: Any, path: Path) -> None:
        # libpq owns the descriptor (and closes it when tracing stops)
        raw.pgconn.trace(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND))
        raw.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

    def total(self) -> int:
        """The round trips so far, of every connection."""
        count = 0
        answered = True
        for sender, _ in self._messages():
            sent = sender == "F"
            count += sent and answered
            answered = not sent
        return count

    def statements(self) -> int:
        """The statements sent so far, of every connection (BEGIN and COMMIT included)."""
        return sum(1 for sender, kind in self._messages() if sender == "F" and kind in _RUNS)

    def _messages(self) -> list[tuple[str, str]]:
        """Who sent each message so far (F: the client), and its kind, connection by
        connection."""
        found = []
        for raw, path in self._traced:
            if not raw.closed:  # what libpq buffered is written when tracing stops
                raw.pgconn.untrace()
                self._trace(raw, path)
            lines = path.read_text().splitlines()  # a message, or a statement's next line
            found.extend((m[1], m[2]) for line in lines if (m := _MESSAGE.match(line)))
            found.append(("B", "end"))  # the next connection's first message starts a trip
        return found
