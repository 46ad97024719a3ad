"""Each process's view of its venues (circuit state, request errors by class) in one Redis hash,
so that the web process's `/ready` and `/metrics` show venues it does not talk to itself.

A field per venue and process (`<venue>|<process>`) holds JSON written after each monitor round
and each worker job; readers keep the fresh ones (written within `FRESH_SECONDS`), take a
venue's worst circuit state and sum its errors, and delete the stale fields of dead processes.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import msgspec
import redis

from app.ports.exchange import Exchange

KEY = "signalgate:venue-health"
FRESH_SECONDS = 120.0
_WORST = {"closed": 0, "half_open": 1, "open": 2}


class _Entry(msgspec.Struct):
    at: float
    state: str
    errors: dict[str, int] = {}
    requests: int = 0  # sent by the process so far
    budget_used: int = 0  # requests charged to the venue's budget (the monitor's)
    budget_per_minute: float = 0.0  # 0: no budget


@dataclass
class VenueHealth:
    state: str = "closed"  # the worst circuit state any live process sees
    errors: Counter[str] = field(default_factory=Counter)  # request errors by class, summed
    requests: int = 0  # sent, summed over the live processes
    budget_used: int = 0  # charged to the budget of the monitor's reads
    budget_per_minute: float = 0.0

    @property
    def up(self) -> bool:
        return self.state == "closed"


def process_name(role: str) -> str:
    return f"{role}@{socket.gethostname()}:{os.getpid()}"


def _entries(venues: Mapping[str, Exchange], now: float) -> dict[str, _Entry]:
    return {
        name: _Entry(
            now,
            str(getattr(venue, "circuit_state", "closed")),
            dict(getattr(venue, "error_counts", {})),
            sum(dict(getattr(venue, "request_counts", {})).values()),
            *getattr(venue, "budget_used", (0, 0.0)),
        )
        for name, venue in venues.items()
    }


def _write(client: redis.Redis, process: str, entries: Mapping[str, _Entry]) -> None:
    fields = {f"{name}|{process}": msgspec.json.encode(entry) for name, entry in entries.items()}
    if fields:
        client.hset(KEY, mapping=fields)  # type: ignore[arg-type]


def publish(client: redis.Redis, process: str, venues: Mapping[str, Exchange]) -> None:
    """Write this process's view of `venues` (blocking: one HSET)."""
    _write(client, process, _entries(venues, time.time()))


class ChangePublisher:
    """`publish` for a process that would write after every job: writes only when its view
    changed (a circuit state, a count) or `refresh_seconds` after its last write, well within
    `FRESH_SECONDS`. A worker on paper venues alone sees the same view job after job: a Redis
    round trip per job, for nothing."""

    def __init__(
        self,
        process: str,
        *,
        refresh_seconds: float = FRESH_SECONDS / 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._process = process
        self._refresh = refresh_seconds
        self._clock = clock
        self._written: dict[str, _Entry] | None = None
        self._written_at = 0.0

    def publish(self, client: redis.Redis, venues: Mapping[str, Exchange]) -> bool:
        """Write the view of `venues` if it changed or is due; True when written (blocking)."""
        now = self._clock()
        entries = _entries(venues, now)
        same = self._written is not None and {
            name: msgspec.structs.replace(entry, at=0.0) for name, entry in entries.items()
        } == {name: msgspec.structs.replace(entry, at=0.0) for name, entry in self._written.items()}
        if same and now - self._written_at < self._refresh:
            return False
        _write(client, self._process, entries)
        self._written, self._written_at = entries, now
        return True


def read(client: redis.Redis, now: float | None = None) -> dict[str, VenueHealth]:
    """Each venue's health over the live processes (blocking)."""
    now = time.time() if now is None else now
    found: dict[str, VenueHealth] = {}
    stale: list[bytes | str] = []
    for raw_field, raw in client.hgetall(KEY).items():
        name = raw_field.decode() if isinstance(raw_field, bytes) else str(raw_field)
        venue = name.split("|", 1)[0]
        try:
            entry = msgspec.json.decode(raw, type=_Entry)
        except msgspec.DecodeError:
            stale.append(raw_field)
            continue
        if now - entry.at > FRESH_SECONDS:
            stale.append(raw_field)
            continue
        health = found.setdefault(venue, VenueHealth())
        if _WORST.get(entry.state, 2) > _WORST.get(health.state, 2):
            health.state = entry.state
        health.errors.update(entry.errors)
        health.requests += entry.requests
        health.budget_used += entry.budget_used
        health.budget_per_minute = max(health.budget_per_minute, entry.budget_per_minute)
    if stale:
        client.hdel(KEY, *stale)
    return found
