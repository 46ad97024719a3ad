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
from collections.abc import Mapping
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


def publish(client: redis.Redis, process: str, venues: Mapping[str, Exchange]) -> None:
    """Write this process's view of `venues` (blocking: one HSET)."""
    now = time.time()
    fields = {
        f"{name}|{process}": msgspec.json.encode(
            _Entry(
                now,
                str(getattr(venue, "circuit_state", "closed")),
                dict(getattr(venue, "error_counts", {})),
                sum(dict(getattr(venue, "request_counts", {})).values()),
                *getattr(venue, "budget_used", (0, 0.0)),
            )
        )
        for name, venue in venues.items()
    }
    if fields:
        client.hset(KEY, mapping=fields)  # type: ignore[arg-type]


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
