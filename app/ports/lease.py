"""The monitor's lease (exactly one monitor acts on brackets) and its heartbeat."""

from __future__ import annotations

from typing import Protocol


class Lease(Protocol):
    """A lease held by one holder at a time, which lapses unless renewed within its period."""

    @property
    def period_seconds(self) -> float: ...

    async def acquire(self) -> bool:
        """Take the lease if it is free (or already ours); True if we hold it now."""
        ...

    async def renew(self) -> bool:
        """Extend our lease by a period; False if it is no longer ours (or Redis failed)."""
        ...

    def held(self) -> bool:
        """True while our last acquire or renewal is still within its period, by our clock."""
        ...

    def seconds_left(self) -> float:
        """How long our lease lasts without another renewal (0 when not held)."""
        ...

    async def release(self) -> None:
        """Give the lease up now if it is ours, so a standby takes over without waiting."""
        ...


class Heartbeat(Protocol):
    async def beat(self) -> None:
        """Record that a monitor round finished now."""
        ...
