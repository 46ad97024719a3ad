"""The risk gate's last step for an entry: its checks over the whole account, and its
reservation, in one atomic step.

MAX_OPEN_POSITIONS, MAX_TOTAL_EXPOSURE and MAX_ORDERS_PER_MINUTE limit an account, while signals
are serialized per account and symbol only: entries on different symbols run side by side (in a
batch, and on other workers), and each would see the same account and pass. So an entry that
passes takes a reservation (`Reservations`): it is read before the book, counted by every other
entry's check, and taken only if no other entry was reserved since this check's reading (else
the account is read again and the entry checked again; when only this process's own reservations
were taken since, they are added to the reading instead: each was taken after the reading, so
neither the reservations nor the book read then hold it). It lasts until the entry's bracket is on
record, where the book counts it: its entry order resting, or the position it filled. A worker
killed in between leaks nothing: the reservation expires.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

import msgspec

from app.domain.reservations import Reservation, joined
from app.domain.risk import Approved, Denied, check
from app.domain.risk_values import AccountSnapshot, RiskRequest
from app.ports.errors import Unavailable
from app.ports.execution import AccountState, Busy, PendingSignal
from app.services.execution.context import ExecutionContext
from app.services.execution.day_loss import with_day_of
from app.services.execution.views import VenueView, snapshot_of

log = logging.getLogger("signalgate.execution")

# Longer than a reserved entry takes to be on record (it is saved before its order is sent, with
# nothing awaited in between); a market entry whose answer is lost counts through it that long.
RESERVATION_TTL = timedelta(seconds=60)
ATTEMPTS = 50  # checks of one entry while others keep being reserved, before the job is retried


class EntryGate:
    def __init__(self, ctx: ExecutionContext, ttl: timedelta = RESERVATION_TTL) -> None:
        self._ctx = ctx
        self._ttl = ttl

    def approve(
        self,
        pending: PendingSignal,
        request: RiskRequest,
        views: Sequence[VenueView],
        account: AccountState | None = None,
        *,
        counted: AccountSnapshot | None = None,
    ) -> Approved | Denied:
        """Check the entry with every other entry of its account counted, and reserve it if
        it passes.

        Args:
            pending: the entry's signal (its id is the reservation's).
            request: the sized, routed order.
            views: the venues as read for it.
            account: the account as read for it (`ExecutionContext.account`); read now if None.
            counted: the account as the executor counted it for the entry
                (`ExecutionContext.snapshot`), whose day's P&L (realized, and open positions at
                their marks, in the account's currency) every check of the entry uses.

        Raises:
            Busy: other entries of the account kept being reserved while this one was checked.
            Unavailable: the reservations or the database could not be reached.
        """
        signal = pending.signal
        ctx = self._ctx
        state = account or ctx.account(signal.account, signal.symbol)
        for _ in range(ATTEMPTS):
            now = ctx.clock()
            own = snapshot_of(signal.account, state, views, own=pending.id)
            snapshot = with_day_of(own, counted)
            decision = check(request, snapshot, ctx.rules(signal.account).limits, now)
            if not isinstance(decision, Approved):
                return decision
            entry = Reservation(pending.id, request.venue, request.symbol,
                                request.amount * request.price, now + self._ttl)  # fmt: skip
            read = state.reserved
            newer = ctx.reservations.reserve(signal.account, read.version, entry, now)
            if newer is None:
                return decision
            ours = ctx.reservations.taken_since(signal.account, read.version, newer.version)
            if ours is None:  # another process's entries: the book may hold them by now
                state = ctx.read_account(signal.account, signal.symbol, newer)
            else:  # this process's alone, each on its way since the reading: counted as such
                state = msgspec.structs.replace(state, reserved=joined(read, newer.version, ours))
        raise Busy(
            f"account {signal.account}: other entries were approved {ATTEMPTS} times while"
            f" {pending.id} was checked"
        )

    def release(self, pending: PendingSignal) -> None:
        """The entry's bracket is on record (or nothing was placed): the book counts it now.
        The release may be sent later (`send_releases`), with the next reading."""
        try:
            self._ctx.reservations.release(pending.signal.account, pending.id)
        except Unavailable as error:
            log.warning("reservation of %s not released (%s): it lapses in %s",
                        pending.id, error, self._ttl)  # fmt: skip

    def send_releases(self) -> None:
        """Send the releases kept back: a job's reservations end with it."""
        try:
            self._ctx.reservations.send_releases()
        except Unavailable as error:
            log.warning("reservations not released (%s): they lapse in %s", error, self._ttl)
