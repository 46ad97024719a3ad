from __future__ import annotations

import pytest

from app.adapters.circuit import BreakerState, CircuitBreaker
from app.ports.errors import Retryable


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def opened(clock: Clock) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=2, cool_down_seconds=10, clock=clock)
    for _ in range(2):
        breaker.check("venue")
        breaker.record_failure()
    return breaker


def test_opens_after_consecutive_failures_and_refuses_calls(opened: CircuitBreaker) -> None:
    assert opened.state is BreakerState.OPEN
    with pytest.raises(Retryable, match=r"circuit is open for another 10\.0 s"):
        opened.check("venue")


def test_a_success_resets_the_count(clock: Clock) -> None:
    breaker = CircuitBreaker(failure_threshold=2, cool_down_seconds=10, clock=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_one_probe_through_and_its_success_closes(
    opened: CircuitBreaker, clock: Clock
) -> None:
    clock.now = 10
    assert opened.state is BreakerState.HALF_OPEN
    opened.check("venue")  # the probe
    with pytest.raises(Retryable, match="being probed"):
        opened.check("venue")
    opened.record_success()
    assert opened.state is BreakerState.CLOSED
    opened.check("venue")
    opened.check("venue")


def test_a_failed_probe_opens_it_again(opened: CircuitBreaker, clock: Clock) -> None:
    clock.now = 10
    opened.check("venue")
    opened.record_failure()
    assert opened.state is BreakerState.OPEN
    clock.now = 20
    opened.check("venue")  # the next probe, a cool-down later


def test_a_probe_that_never_reports_is_given_up_after_a_cool_down(
    opened: CircuitBreaker, clock: Clock
) -> None:
    clock.now = 10
    opened.check("venue")  # its task is cancelled: it never records anything
    clock.now = 19.9
    with pytest.raises(Retryable):
        opened.check("venue")
    clock.now = 20
    opened.check("venue")  # a new probe
