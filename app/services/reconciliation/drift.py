"""A drift made certain and acted on, under the account-and-symbol locks of the brackets involved.

A difference between the venue and the book, seen without the locks, may be a fill the book has
not recorded yet: a worker between a create's answer and its save, a leg that filled while the
monitor was down. So, holding every involved bracket's lock (without waiting, like the monitor:
a busy one is looked at on the next run), each bracket is read back from the venue and the venue
read again. What still differs is drift. A venue that holds less than the brackets (coins sold
by hand, a liquidation) has that shortfall taken off them, newest first. Then every bracket of
the key is driven at once: the fills read back acted on (a take-profit that filled unseen
cancels the stop-loss), a bracket sized down gets its stop-loss re-placed for what is held, or
is closed. signalgate never takes on more than it bought: an excess stays unexplained.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import msgspec

from app.domain.brackets.bracket import FINAL, Bracket
from app.domain.reconciliation import (
    Comparison,
    drift_sentence,
    shortfall_takes,
    show,
    signed,
    take_off,
    unsettled,
)
from app.ports.errors import ExchangeError
from app.ports.exchange import Exchange
from app.ports.execution import ExecutionStore, KeyLocks, lock_key
from app.services.brackets.driver import BracketDriver
from app.services.reconciliation.book import Key, involved

log = logging.getLogger("signalgate.reconciliation")
_ZERO = Decimal(0)

# the comparison again, from a new reading of the venue, with these open brackets
# the venue read anew, then compared with the brackets read back after that read
Compare = Callable[[Sequence[Bracket]], Awaitable[Comparison]]
Recompare = Callable[[], Awaitable[Compare]]


@dataclass(frozen=True)
class Settled:
    """A drift made certain: the comparison before and after what was taken off brackets."""

    found: Comparison  # under the locks, brackets read back from the venue
    after: Comparison  # with the shortfall taken off the brackets
    involved: list[Bracket]  # the open brackets of the key, as read back
    adjusted: list[str]  # the brackets a share of the shortfall was taken off

    @property
    def taken(self) -> Decimal:
        return abs(self.found.drift - self.after.drift) if self.found.drift else _ZERO


@dataclass(frozen=True, eq=False)
class DriftSettler:
    store: ExecutionStore
    driver: BracketDriver
    locks: KeyLocks
    clock: Callable[[], datetime]

    async def settle(
        self, venue: Exchange, key: Key, brackets: Sequence[Bracket], recompare: Recompare
    ) -> Settled | None:
        """Confirm a drift seen with the open `brackets` of its key and take a shortfall off them;
        None when a lock is busy, the key's brackets changed meanwhile, or an order's outcome is
        unknown (its fill may be the difference): looked at again on the next run."""
        async with contextlib.AsyncExitStack() as stack:
            fences = []
            for lock in sorted({lock_key(b.account, b.symbol) for b in brackets}):
                fence = await stack.enter_async_context(self.locks.try_hold(lock))
                if fence is None:
                    log.info("drift check on %s: %s is busy; looked at on the next run",
                             venue.name, lock)  # fmt: skip
                    return None
                fences.append(fence)
            with self.store.batch(*fences):  # the holder's; written before the locks go
                # the venue first, the brackets' orders after: an order that fills between the
                # two reads shows in the brackets too, never as a shortfall of the venue's
                compare = await recompare()
                fresh = await self._read_back(venue, key, brackets)
                if fresh is None or any(unsettled(b) for b in fresh):
                    return None
                found = await compare(fresh)
                takes = shortfall_takes(fresh, found.drift) if found.drift else []
                moved = sum((signed(b.side, take) for b, take in takes), _ZERO)
                after = msgspec.structs.replace(found, brackets=found.brackets - moved)
                detail = drift_sentence(found, abs(moved), after.drift)
                taken = {b.id: take for b, take in takes}
                for bracket in fresh:  # the fills read back acted on, the shortfall's brackets too
                    now = (
                        await self._adjust(venue, bracket, taken[bracket.id], detail)
                        if bracket.id in taken
                        else bracket
                    )
                    await self.driver.drive_settled(now, venue)
                return Settled(found, after, fresh, list(taken))

    async def _read_back(
        self, venue: Exchange, key: Key, brackets: Sequence[Bracket]
    ) -> list[Bracket] | None:
        """The brackets as they are now, their open orders read back from the venue; None when
        one of them settled or another one joined the key meanwhile (read again later)."""
        now_open = involved(key, (b for b in self.store.open_brackets() if b.venue == venue.name))
        if {b.id for b in now_open} != {b.id for b in brackets}:
            return None
        fresh = []
        for listed in brackets:
            bracket = self.store.bracket(listed.id)
            if bracket is None or bracket.state in FINAL:
                return None
            statuses = await self.driver.statuses(bracket, venue)
            fresh.append(self.driver.refresh(bracket, statuses))
        return fresh

    async def _adjust(
        self, venue: Exchange, bracket: Bracket, take: Decimal, detail: str
    ) -> Bracket:
        """`bracket` holding `take` less, gone at the venue's mid (its P&L counts toward the
        day's loss like an exit's), saved, and said so on its lineage."""
        try:
            mark = (await venue.order_book(bracket.symbol, 5)).mid
        except ExchangeError:
            mark = None  # valued at its entry price: no P&L made up
        changed = take_off(bracket, take, mark)
        self.store.save_bracket(changed, self.clock())
        holds = f"this bracket now holds {show(changed.position)} ({show(take)} less)"
        self.driver.incident(changed, "drift", f"{detail}; {holds}")
        return changed
