"""What reconciliation keeps between runs (baselines, each key's last comparison, counts) and
what the workers read of it: the symbols whose entries a drift holds back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import msgspec

from app.domain.orders import Side


class KeyState(msgspec.Struct, frozen=True):
    """One venue and symbol as the last reconciliation found it (`GET /reconciliation`)."""

    venue: str
    symbol: str
    key: str  # the asset (spot) or the symbol (swap) compared
    kind: str  # balance | position
    venue_amount: Decimal  # what the venue holds
    book: Decimal  # what signalgate explains: baseline + brackets
    baseline: Decimal  # held outside signalgate
    brackets: Decimal  # held by signalgate's brackets (open, and leftovers of settled ones)
    drift: Decimal  # unexplained now (venue - book); 0 when the book explains the venue
    policy: str  # DRIFT_POLICY for this venue
    hold: bool  # new entries on the symbol are held back (reduce_only and a drift)
    checked_at: datetime
    drift_since: datetime | None = None  # when the unexplained drift was first seen
    incidents: int = 0  # drift incidents so far
    adjusted: Decimal = Decimal(0)  # taken off brackets to match the venue, in total
    note: str | None = None  # the last incident, in one sentence


class VenueRun(msgspec.Struct, frozen=True):
    """One venue's last reconciliation."""

    venue: str
    checked_at: datetime
    error: str | None = None  # the venue could not be read
    orphans_cancelled: int = 0  # signalgate's orders no bracket owns, cancelled so far


class ReconciliationStore(Protocol):
    """Reconciliation's own records. Written by the acting monitor only; read by the web process.

    Every method raises `Unavailable` when the store cannot be reached.
    """

    def baselines(self, venue: str) -> dict[str, Decimal]:
        """What the user holds outside signalgate on `venue`, by asset (or swap symbol)."""
        ...

    def record_baseline(self, venue: str, key: str, amount: Decimal, at: datetime) -> None: ...

    def settled_positions(self, venue: str) -> dict[tuple[str, Side], Decimal]:
        """What settled brackets of `venue` left on it (dust below the venue's step), by symbol
        and side; zero leftovers are not listed."""
        ...

    def states(self, venue: str | None = None) -> list[KeyState]: ...

    def save_states(self, states: Sequence[KeyState]) -> None: ...

    def runs(self) -> list[VenueRun]: ...

    def save_run(self, run: VenueRun) -> None: ...


HOLD_CHECK = "drift"  # the check name of an entry a drift holds back


def hold_sentence(venue: str, symbol: str, key: str, drift: Decimal) -> str:
    """Why an entry is held back by a drift (it starts with "drift on", see `held_back`)."""
    return (
        f"drift on {venue}: {drift.normalize():f} {key} that signalgate's book does not"
        f" explain; no new {symbol} entry until reconciliation finds it gone"
        " (DRIFT_POLICY=reduce_only; see GET /reconciliation)"
    )


def held_back(denial: str) -> bool:
    """Whether an entry denial is a drift's hold (`hold_sentence`)."""
    return denial.startswith("drift on ")


class EntryHolds(Protocol):
    """What the executor asks before an entry."""

    def entry_hold(self, symbol: str) -> str | None:
        """Why no new entry may go to `symbol` now (a drift under `DRIFT_POLICY=reduce_only`),
        in one sentence, or None."""
        ...
