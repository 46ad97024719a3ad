"""Venues' private order streams driving the bracket monitor, with polling as the fallback.

A stream only says "look now": an update for an order of an open bracket wakes the monitor, which
drives that bracket at once under its account-and-symbol lock with the same driver code, reading
the order back from the venue as a poll would. Nothing about money depends on the stream.

Trust, per venue (`StreamTrust`): a stream is trusted only once a full polling round of the
venue's brackets has started after it (re)subscribed and finished (the reconciliation round):
whatever changed before the subscription is seen by that round, whatever changed after it is
told by the stream. While a venue's stream is trusted, the monitor reads that venue's brackets
back every `slow_interval_seconds` instead of every round (watched targets and stops still get
their price every round); as soon as the stream drops, it is polled every round again.

`StreamWatch` keeps one venue's stream subscribed: after a drop it subscribes again after a
backoff (doubling from `BACKOFF_SECONDS` to `MAX_BACKOFF_SECONDS`, with full jitter so that
several monitors do not come back in step) and never gives up.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.ports.errors import ExchangeError
from app.ports.streams import OrderStream, OrderUpdate

log = logging.getLogger("signalgate.streams")
BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0


class StreamState(enum.StrEnum):
    DOWN = "down"  # not subscribed: every round polls the venue
    RECONCILING = "reconciling"  # subscribed; trusted after the next full round
    TRUSTED = "trusted"


@dataclass
class StreamTrust:
    """Each streamed venue's state, as the monitor reads it before each bracket."""

    now: Callable[[], float] = time.monotonic
    states: dict[str, StreamState] = field(default_factory=dict)
    _subscribed_at: dict[str, float] = field(default_factory=dict)
    drops: dict[str, int] = field(default_factory=dict)  # since the start, for /metrics

    def trusted(self, venue: str) -> bool:
        return self.states.get(venue) is StreamState.TRUSTED

    def subscribed(self, venue: str) -> None:
        self.states[venue] = StreamState.RECONCILING
        self._subscribed_at[venue] = self.now()
        log.info("%s: order stream subscribed; trusted after a full round of its brackets", venue)

    def dropped(self, venue: str) -> None:
        if self.states.get(venue) is not StreamState.DOWN:
            self.drops[venue] = self.drops.get(venue, 0) + 1
        self.states[venue] = StreamState.DOWN

    def polled(self, venue: str, started: float) -> None:
        """A full round of `venue`'s brackets that began at `started` has finished."""
        if self.states.get(venue) is not StreamState.RECONCILING:
            return
        if started >= self._subscribed_at.get(venue, float("inf")):
            self.states[venue] = StreamState.TRUSTED
            log.info("%s: reconciled after the stream subscribed; trusting it again", venue)


@dataclass(eq=False)
class StreamWatch:
    """Keeps `stream` subscribed, hands its updates to `told` (the monitor's `wake`) and asks
    for a full round after each subscription (`reconcile`: the monitor's `reconcile`)."""

    venue: str
    stream: OrderStream
    trust: StreamTrust
    told: Callable[[str, list[OrderUpdate]], None]
    reconcile: Callable[[], None]
    backoff_seconds: float = BACKOFF_SECONDS
    max_backoff_seconds: float = MAX_BACKOFF_SECONDS
    jitter: Callable[[], float] = random.random  # in [0, 1)
    subscriptions: int = field(default=0, init=False)

    def backoff(self, failures: int) -> float:
        """The wait before subscribing again after `failures` in a row: full jitter over a
        doubling bound (at least a tenth of the first step)."""
        bound = min(self.backoff_seconds * 2.0 ** (failures - 1), self.max_backoff_seconds)
        return max(bound * self.jitter(), self.backoff_seconds / 10)

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        try:
            while not stop.is_set():
                try:
                    await self.stream.subscribe()
                    self.subscriptions += 1
                    self.trust.subscribed(self.venue)
                    self.reconcile()
                    failures = 0
                    while not stop.is_set():
                        self.told(self.venue, await self.stream.updates())
                except ExchangeError as error:
                    self.trust.dropped(self.venue)
                    failures += 1
                    wait = self.backoff(failures)
                    log.warning("%s: order stream down (%s); polling every round, subscribing"
                                " again in %.1f s", self.venue, error, wait)  # fmt: skip
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), wait)
        finally:
            self.trust.dropped(self.venue)
            await self.stream.close()
