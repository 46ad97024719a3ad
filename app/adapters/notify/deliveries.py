"""The channels' shared state in Redis: each one's rate limit (its theoretical arrival time, for
`app.domain.notifications.admit`), how its sends went (counters for /metrics), and what the
notifier last saw of the monitor."""

from __future__ import annotations

import logging
from typing import Any, cast

import redis
from redis.exceptions import RedisError

from app.adapters.redis.forwarder_beat import last_beat_sync
from app.adapters.redis.lease import last_round_sync
from app.domain.notifications import Admission, admit

log = logging.getLogger("signalgate.notify")

PREFIX = "signalgate:notify"
OUTCOMES_KEY = f"{PREFIX}:outcomes"  # field "channel,service,outcome" -> count
# an event sent on a channel is not sent again for a week (its job's record goes after a day)
CLAIM_TTL = 7 * 86_400


class RedisDeliveries:
    """`Deliveries` over a blocking Redis client."""

    def __init__(self, client: redis.Redis, *, per_minute: int, max_wait_seconds: float) -> None:
        self._client = client
        self._per_minute = per_minute
        self._max_wait = max_wait_seconds

    def admit(self, channel: str, now: float, *, urgent: bool) -> Admission | None:
        key = f"{PREFIX}:tat:{channel}"

        def step(pipe: Any) -> Admission | None:
            raw = pipe.get(key)
            slot = admit(
                float(raw) if raw is not None else None,
                now,
                per_minute=self._per_minute,
                max_wait_seconds=self._max_wait,
                urgent=urgent,
            )
            if slot is not None:
                pipe.multi()
                # kept a minute past the slot: a quiet channel starts afresh
                pipe.set(key, repr(slot.tat), px=max(1, int((slot.tat - now + 60) * 1000)))
            return slot

        transaction: Any = self._client.transaction
        return cast("Admission | None", transaction(step, key, value_from_callable=True))

    def claim(self, channel: str, key: str) -> bool:
        return bool(self._client.set(f"{PREFIX}:sent:{channel}:{key}", 1, nx=True, ex=CLAIM_TTL))

    def release(self, channel: str, key: str) -> None:
        self._client.delete(f"{PREFIX}:sent:{channel}:{key}")

    def count(self, channel: str, service: str, outcome: str) -> None:
        try:
            self._client.hincrby(OUTCOMES_KEY, f"{channel},{service},{outcome}", 1)
        except (RedisError, OSError) as error:
            log.warning("notification outcome %s of channel %s not counted (%s)", outcome,
                        channel, error)  # fmt: skip


def outcomes(client: redis.Redis) -> dict[str, float]:
    """The counters: `"channel,service,outcome"` -> sends so far."""
    raw: dict[bytes, bytes] = client.hgetall(OUTCOMES_KEY)  # type: ignore[assignment]
    return {key.decode(): float(value) for key, value in raw.items()}


class RedisWatched:
    """`Watched` over a blocking Redis client: the monitor's and the forwarder's heartbeats, and
    the states seen."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def last_beat(self, process: str) -> float | None:
        if process == "forwarder":
            return last_beat_sync(self._client)
        return last_round_sync(self._client)

    def swap(self, name: str, state: str) -> str | None:
        before = self._client.set(f"{PREFIX}:seen:{name}", state, get=True)
        return before.decode() if isinstance(before, bytes) else before  # type: ignore[return-value]
