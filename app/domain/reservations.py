"""Entries that hold nothing yet but will, as the risk gate counts them account-wide.

An entry takes an open-position slot and its notional of exposure from the moment the gate
approves it, not from its fill: while it rests on its venue (a limit or stop entry not filled)
the book holds it as an open entry order, and before its bracket is on record it exists only as
a reservation, which the gate takes in the same atomic step as its last check. Both count
toward MAX_OPEN_POSITIONS and MAX_TOTAL_EXPOSURE; a reservation also counts as an order toward
MAX_ORDERS_PER_MINUTE until its order is on record. An entry is counted once: its record in
the book wins over its reservation.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal

import msgspec

_ZERO = Decimal(0)


class Reservation(msgspec.Struct, frozen=True):
    """What the gate approved for one entry, held until its bracket is on record (then the
    book counts it) or until `expires_at` (a worker that died before recording it)."""

    id: str  # the signal's id, which is its bracket's
    venue: str
    symbol: str
    notional: Decimal  # amount x the price it was checked at
    expires_at: datetime


class Reserved(msgspec.Struct, frozen=True):
    """An account's live reservations, and the version they were read at: a reservation is
    taken only while the version is still the one its check read."""

    version: int = 0
    entries: tuple[Reservation, ...] = ()


class RestingEntry(msgspec.Struct, frozen=True):
    """The open entry order of an open bracket: not filled, or not wholly."""

    bracket_id: str
    venue: str
    symbol: str
    notional: Decimal | None  # what still rests, at its limit or trigger price; None: no price


class Committed(msgspec.Struct, frozen=True):
    """An entry the account is committed to that holds no position (yet)."""

    venue: str
    symbol: str
    notional: Decimal
    on_its_way: bool = False  # reserved, its order not on record yet


def committed(
    resting: Sequence[RestingEntry],
    reserved: Sequence[Reservation],
    on_record: Collection[str],
    own: str | None = None,
) -> tuple[Committed, ...]:
    """The account's entries that hold nothing yet, each counted once.

    Args:
        resting: the open entry orders in the book.
        reserved: the live reservations.
        on_record: ids of reservations whose bracket is open in the book (the book counts it:
            its resting entry, or the position it filled).
        own: the entry being checked, whose own reservation (a fallback venue's check) does not
            count against it.
    """
    by_id = {r.id: r for r in reserved}
    found = [
        Committed(e.venue, e.symbol, _notional(e, by_id.get(e.bracket_id)))
        for e in resting
        if e.bracket_id != own
    ]
    known = {e.bracket_id for e in resting} | set(on_record)
    found += [
        Committed(r.venue, r.symbol, r.notional, on_its_way=True)
        for r in reserved
        if r.id != own and r.id not in known
    ]
    return tuple(found)


def _notional(entry: RestingEntry, reservation: Reservation | None) -> Decimal:
    """A market entry has no price in the book: its reservation's figure, while it lasts."""
    if entry.notional is not None:
        return entry.notional
    return reservation.notional if reservation is not None else _ZERO


def joined(read: Reserved, version: int, taken: Sequence[Reservation]) -> Reserved:
    """The reservations `read`, at `version` now that `taken` (later ones, in the order they
    were taken) were added: one entry per id, the latest."""
    by_id = {e.id: e for e in read.entries}
    for entry in taken:
        by_id[entry.id] = entry
    return Reserved(version, tuple(sorted(by_id.values(), key=lambda e: e.id)))


class Taken:
    """The reservations one process took, per account, by the version each one made (the last
    `kept`): whether an account's version moved since a reading by this process's own
    reservations only, and by which."""

    def __init__(self, kept: int = 256) -> None:
        self._accounts: dict[str, dict[int, Reservation]] = {}
        self._kept = kept

    def add(self, account: str, version: int, entry: Reservation) -> None:
        """`entry` was reserved and made the account's version `version`."""
        taken = self._accounts.setdefault(account, {})
        taken[version] = entry
        if len(taken) > self._kept:
            del taken[min(taken)]

    def seen(self, account: str, version: int) -> None:
        """The account's version as read: one below a version this process made means the
        versions began again (the store lost its data), and the ones kept name others now."""
        taken = self._accounts.get(account)
        if taken and version < max(taken):
            del self._accounts[account]

    def since(self, account: str, version: int, newer: int) -> tuple[Reservation, ...] | None:
        """The reservations that took the account from `version` to `newer`, oldest first, if
        this process took every one of them; None if any was another's (or is forgotten)."""
        taken = self._accounts.get(account, {})
        if not version < newer <= version + len(taken):
            return None
        entries = []
        for made in range(version + 1, newer + 1):
            if (entry := taken.get(made)) is None:
                return None
            entries.append(entry)
        return tuple(entries)
