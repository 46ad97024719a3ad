"""A circuit breaker per venue: stop calling a venue that does not answer, try again later.

Routing reads `state` to skip venues whose circuit is open.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from app.ports.errors import Retryable


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures (no answer from the venue);
    after `cool_down_seconds` it half-opens: one call, the probe, goes through while the others
    are refused; the probe's failure opens it again, its success closes it. A probe that never
    reports (its task was cancelled) is given up after another cool-down."""

    def __init__(
        self,
        failure_threshold: int = 5,
        cool_down_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cool_down_seconds = cool_down_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.cool_down_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def check(self, venue: str) -> None:
        """Raise Retryable (nothing is sent) while open, and in half-open while a probe is out."""
        state, now = self.state, self._clock()
        if state is BreakerState.OPEN:
            assert self._opened_at is not None
            wait = self.cool_down_seconds - (now - self._opened_at)
            raise Retryable(
                f"{venue} is not answering: its circuit is open for another {wait:.1f} s."
            )
        if state is BreakerState.HALF_OPEN:
            if self._probe_at is not None and now - self._probe_at < self.cool_down_seconds:
                raise Retryable(f"{venue} is being probed after an outage; try again shortly.")
            self._probe_at = now

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_at = None

    def record_failure(self) -> None:
        self._probe_at = None
        self._failures += 1
        if self.state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
