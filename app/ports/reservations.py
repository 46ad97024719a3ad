"""Reservations of approved entries, per account, shared by every worker (`Reservations`)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from app.domain.reservations import Reservation, Reserved, Taken


class Reservations(Protocol):
    """The entries each account's gate approved and whose brackets are not on record yet.

    The risk gate reads them (with the version) before it reads the book, checks the entry with
    them counted, and takes its reservation only if the version is still the one it read: two
    entries checked at once on different symbols cannot both take the last slot.
    """

    def read(self, account: str, now: datetime) -> Reserved:
        """The account's reservations that have not expired at `now`, with their version.

        Raises:
            Unavailable: the store could not be reached; the job is retried later.
        """
        ...

    def reserve(
        self, account: str, version: int, entry: Reservation, now: datetime
    ) -> Reserved | None:
        """Add `entry` (replacing one of its id) if the account's reservations are still at
        `version`, and drop those expired at `now`.

        Returns:
            None when it is reserved, else the reservations as they are now (check again).

        Raises:
            Unavailable: as `read`.
        """
        ...

    def taken_since(self, account: str, version: int, newer: int) -> tuple[Reservation, ...] | None:
        """The reservations that took the account from `version` (one this object answered:
        read, or refused at) to `newer` (oldest first) if this object took every one of them,
        else None.

        A check refused for those alone need not read the book again: each entry it did not
        count was taken after its reading of the reservations, so it is in neither that reading
        nor the book read after it, and is counted by adding it.
        """
        ...

    def release(self, account: str, entry_id: str) -> None:
        """Drop the reservation `entry_id` (its bracket is on record, or it was not placed).

        The drop may be kept back until this object's next `read`, `reserve` or
        `send_releases`, which sends it first: its own reads never see it, and another
        reader that does finds the entry's bracket in the book too (`on_record`: counted once).

        Raises:
            Unavailable: as `read` (the reservation then lapses when it expires).
        """
        ...

    def send_releases(self) -> None:
        """Send the releases kept back (a job's end: no reservation outlives its job by more).

        Raises:
            Unavailable: as `read` (the reservations then lapse when they expire).
        """
        ...


class LocalReservations:
    """`Reservations` for a single process (backtests, tests): a dict, atomic by construction
    (nothing awaits between a read and a reserve)."""

    def __init__(self) -> None:
        self._accounts: dict[str, Reserved] = {}
        self._taken = Taken()

    def read(self, account: str, now: datetime) -> Reserved:
        held = self._accounts.get(account, Reserved())
        live = tuple(e for e in held.entries if e.expires_at > now)
        return Reserved(held.version, live)

    def reserve(
        self, account: str, version: int, entry: Reservation, now: datetime
    ) -> Reserved | None:
        held = self.read(account, now)
        if held.version != version:
            return held
        others = tuple(e for e in held.entries if e.id != entry.id)
        self._accounts[account] = Reserved(version + 1, (*others, entry))
        self._taken.add(account, version + 1, entry)
        return None

    def taken_since(self, account: str, version: int, newer: int) -> tuple[Reservation, ...] | None:
        return self._taken.since(account, version, newer)

    def release(self, account: str, entry_id: str) -> None:
        held = self._accounts.get(account)
        if held is not None:
            kept = tuple(e for e in held.entries if e.id != entry_id)
            self._accounts[account] = Reserved(held.version, kept)

    def send_releases(self) -> None:
        """Nothing is kept back here."""
