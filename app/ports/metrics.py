"""The figures `/metrics` shows, taken from the shared stores at scrape time."""

from __future__ import annotations

from typing import Protocol

import msgspec


class MetricsSnapshot(msgspec.Struct, frozen=True):
    """What `/metrics` shows, computed at scrape time from the shared stores (so every process
    answers the same figures).

    `decisions` counts risk decisions of the last 24 hours by outcome (`approved`, `denied`) and
    reason: the failed check's name for a denial (one count per failed check), `""` for an
    approval. `trading_state` is 1 for the current state and 0 for the others.

    `extra` holds further gauges by name: `"venues_healthy:venue": {"binance": 1.0}` is shown
    as `signalgate_venues_healthy{venue="binance"} 1`; a name without `:label` holds one
    unlabelled value under the key `""`; labels separated by commas take keys written the same
    way (`"drift:venue,symbol": {"binance,BTC/USDT": 0.5}`).
    """

    signals_by_status: dict[str, int]
    queue_depth: dict[str, int]
    jobs_by_state: dict[str, int]
    job_latencies_seconds: tuple[float, ...]
    orders_by_state: dict[str, int] = msgspec.field(default_factory=dict)
    brackets_by_state: dict[str, int] = msgspec.field(default_factory=dict)
    brackets_unprotected: int = 0
    decisions: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)
    trading_state: dict[str, int] = msgspec.field(default_factory=dict)
    execution_latencies_seconds: tuple[float, ...] = ()
    extra: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)
    # counters by name, their labels written as `extra`'s: `"notifications:channel,service,
    # outcome": {"0,telegram,sent": 12.0}` is `signalgate_notifications_total{...} 12`
    counters: dict[str, dict[str, float]] = msgspec.field(default_factory=dict)


class MetricsSource(Protocol):
    def collect(self) -> MetricsSnapshot:
        """The figures now (blocking I/O: call it from a thread).

        Raises:
            Unavailable: a store could not be reached.
        """
        ...
