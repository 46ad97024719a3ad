"""The lost-create protocol waits out the venue's request window from when ccxt signed the
request, not from when it was handed to ccxt: ccxt's throttle may hold a create back first."""

from __future__ import annotations

import time
from types import SimpleNamespace

from app.adapters.ccxt.calls import RetryPolicy, VenueCalls
from app.adapters.ccxt.lost_create import signed_at
from app.adapters.circuit import CircuitBreaker


def calls_with(stamp_ms: float, now: float) -> VenueCalls:
    async def sleep(_: float) -> None:
        return None

    client = SimpleNamespace(lastRestRequestTimestamp=stamp_ms)  # the field ccxt sets
    return VenueCalls("venue", client, RetryPolicy(), CircuitBreaker(), lambda: now, sleep)


def test_a_create_held_back_by_the_throttle_counts_from_its_signing() -> None:
    """Handed over at 100.0 on the monotonic clock, signed 1.5 s later (now is 102.0 and the
    stamp is 0.5 s old): the window runs from 101.5."""
    calls = calls_with((time.time() - 0.5) * 1000, now=102.0)

    assert abs(signed_at(calls, 100.0) - 101.5) < 0.05


def test_without_a_later_stamp_the_hand_over_time_stands() -> None:
    assert signed_at(calls_with(0, now=102.0), 100.0) == 100.0
    old = calls_with((time.time() - 60) * 1000, now=102.0)  # a stamp from before the hand-over
    assert signed_at(old, 100.0) == 100.0
