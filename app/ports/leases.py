"""The leases the running task holds, so that a holder whose lease may have lapsed sends nothing.

A lock held across the network is a lease: renewed while its holder runs, lost when it cannot be
renewed in time (a stalled process, Redis out of reach). The fencing token (`Fence`) stops a
stale holder's saves once a newer holder saved; this stops its sends: `KeyLocks` adapters whose
locks can lapse register each held lease here for the block (`leased`), and the bracket driver
asks `lapsed(key)` right before a request goes to the venue. Locks that cannot lapse (a single
process) register nothing: their keys are always held.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class Lease(Protocol):
    def still_held(self) -> bool:
        """A local check, no round trip: the lease was renewed (or taken) recently enough that
        it is surely still ours, its expiry minus a margin not reached."""
        ...


# The leases held in this context, by lock key (a tuple: a task's copy never changes another's).
_leases: ContextVar[tuple[tuple[str, Lease], ...]] = ContextVar("leases", default=())


@contextmanager
def leased(key: str, lease: Lease) -> Iterator[None]:
    """Register `lease` of the lock `key` as held by the running task for the block."""
    token = _leases.set((*_leases.get(), (key, lease)))
    try:
        yield
    finally:
        try:
            _leases.reset(token)
        except ValueError:  # left in another context than entered: drop this lease alone
            _leases.set(tuple(held for held in _leases.get() if held[1] is not lease))


def lapsed(key: str) -> bool:
    """Whether the running task holds the lock `key` under a lease that may have lapsed (False
    when it holds no lease of the key: no lock, or one that cannot lapse)."""
    return any(held == key and not lease.still_held() for held, lease in _leases.get())
