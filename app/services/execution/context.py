"""What the executor and the unit executor share: the store, the venues, the rules, the bracket
driver, and the one reading of an account and the venues' quotes that precedes every decision."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from app.domain.accounts import AccountRules, VenueAccess, no_venue_left
from app.domain.brackets.bracket import Bracket
from app.domain.execution_policy import ExecutionPolicy
from app.domain.market import Market
from app.domain.notifications import Reason, SignalDenied
from app.domain.orders import Side
from app.domain.reservations import Reserved
from app.domain.risk_values import AccountSnapshot, CheckResult, RiskLimits
from app.domain.signals import PENDING, Signal, SignalStatus, execution_delay
from app.domain.sizing import SizingPolicy
from app.ports.accounts import AccountBook
from app.ports.exchange import Exchange
from app.ports.execution import (
    AccountState,
    ExecutionStore,
    KeyLocks,
    LineageStep,
    PendingSignal,
    SignalState,
)
from app.ports.notifications import NoNotifier, Notifier
from app.ports.reconciliation import EntryHolds
from app.ports.reservations import LocalReservations, Reservations
from app.services.brackets.doubt import entry_denial
from app.services.brackets.driver import BracketDriver
from app.services.execution.day_loss import with_day_pnl
from app.services.execution.leverage import Leverages
from app.services.execution.quotes import Early, ended, requests_sent, venue_view
from app.services.execution.views import VenueView, snapshot_of

log = logging.getLogger("signalgate.execution")
Key = tuple[str, str]  # an account and a symbol


class SignalMissing(Exception):
    """The job's signal is not in the database (yet): the job is retried."""


@dataclass(frozen=True, eq=False)
class ExecutionContext:
    """Everything a signal is executed with, built once by the `Executor`."""

    store: ExecutionStore
    venues: Mapping[str, Exchange]
    modes: Mapping[str, str]  # venue -> paper, testnet or live
    clock: Callable[[], datetime]
    locks: KeyLocks
    limits: RiskLimits
    sizing: SizingPolicy
    policy: ExecutionPolicy
    driver: BracketDriver
    # every venue answers in this process (a backtest): reads are made one after the other,
    # without tasks to overlap their round trips
    in_process: bool = False
    holds: EntryHolds | None = None  # entries held back by a drift (DRIFT_POLICY=reduce_only)
    reservations: Reservations = field(default_factory=LocalReservations)
    leverage: Leverages = field(default_factory=Leverages)
    notifier: Notifier = field(default_factory=NoNotifier)  # entries and denials, told
    # each account's limits, sizing and venues; None: every account trades by the settings
    accounts: AccountBook | None = None
    # which venues take new entries (stored connections: their accounts', while enabled);
    # None: every venue, for every account
    venue_access: Callable[[], VenueAccess] | None = None
    # the statuses this process gave signals, until the job that ran them reads them
    # (`Executor.execute_many`): no read of what it already knows
    outcomes: dict[str, SignalStatus] = field(default_factory=dict)
    # each account's positions with an entry price at its last reading (venue, symbol): their
    # marks are read with the next signal's quotes, in the same round trip (`_quote`)
    held: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    # quotes asked as a key's run began (`quote_early`)
    early: dict[Key, Early] = field(default_factory=dict)
    # the account read with a key's queue (`queued`), and the driver's count of sends then
    early_accounts: dict[Key, tuple[AccountState, int]] = field(default_factory=dict)

    def rules(self, account: str) -> AccountRules:
        """The limits, sizing and venues of `account`'s signals (the venues that take its new
        entries)."""
        if self.accounts is None:  # no accounts at all: every account trades by the settings
            rules = AccountRules(account, self.limits, self.sizing)
        else:
            rules = self.accounts.rules(account)
        return rules if self.venue_access is None else self.venue_access().applied(rules)

    def denied_without_venue(self, pending: PendingSignal, rules: AccountRules) -> bool:
        """Deny the signal when its account names connections and none takes new entries."""
        if (closed := no_venue_left(rules)) is None:
            return False
        self.deny(pending, f"denied: {closed}", [CheckResult("venue", False, closed)])
        return True

    def hint(self, venue: str | None, only: frozenset[str] | None) -> str | None:
        """The alert's venue when one is configured under that name (among `only`, the
        account's); a TradingView prefix like BINANCE: names the chart's exchange, which may
        not be a venue of this deployment or of the account."""
        return venue if venue in self.venues and (only is None or venue in only) else None

    def refused(self, pending: PendingSignal) -> bool:
        """Deny a signal whose account is not kept (removed, or never added); it places
        nothing, on no venue."""
        if (why := self.rules(pending.signal.account).refused) is None:
            return False
        self.deny(pending, f"denied: {why}", [CheckResult("account", False, why)])
        return True

    def record(
        self,
        signal_id: str,
        step: str,
        detail: str,
        status: SignalStatus | None = None,
        **data: Any,
    ) -> None:
        """Add a step, now, to the signal's lineage (`data`: the figures behind it)."""
        self.store.record(LineageStep(signal_id, self.clock(), step, detail, data or None),
                          status=status)  # fmt: skip
        if status is not None:
            self.outcomes[signal_id] = status

    def keys_to_run(
        self, signal_ids: Sequence[str], keys: Mapping[str, Key] | None
    ) -> tuple[Mapping[str, SignalState], dict[Key, str]]:
        """The states of the job's signals as read before their runs (none when `keys`, the
        job's, name every signal's account and symbol), and each key to run with the newest
        of its signals, up to which its queue runs.

        Raises:
            SignalMissing: a signal not in the database (as far as read now).
        """
        found: Mapping[str, SignalState] = {}
        if keys is not None and all(i in keys for i in signal_ids):
            runs = [(keys[i], i) for i in signal_ids]  # one done already runs nothing
        else:
            found = self.store.states(signal_ids)
            if missing := [i for i in signal_ids if i not in found]:
                raise SignalMissing(f"signals {', '.join(missing)} are not in the database")
            runs = [((s.account, s.symbol), s.id) for s in found.values() if s.status in PENDING]
        newest: dict[Key, str] = {}
        for key, signal_id in runs:
            newest[key] = max(newest.get(key, signal_id), signal_id)
        return found, newest

    def states_after(
        self,
        signal_ids: Sequence[str],
        found: Mapping[str, SignalState],
        keys: Mapping[str, Key] | None = None,
    ) -> Mapping[str, SignalState]:
        """The signals' states (`found` before their runs, or their `keys`) after their runs:
        the statuses this process gave them, the others read (run by another job, or legs of a
        unit still waiting).

        Raises:
            SignalMissing: a signal given no status here is not in the database.
        """
        given, done = self.outcomes, {}
        for i in signal_ids:
            if i in given and i in found:
                done[i] = msgspec.structs.replace(found[i], status=given.pop(i))
            elif i in given and keys is not None and i in keys:
                done[i] = SignalState(i, *keys[i], given.pop(i))
        if left := [i for i in signal_ids if i not in done]:
            done.update(self.store.states(left))
            if missing := [i for i in left if i not in done]:
                raise SignalMissing(f"signals {', '.join(missing)} are not in the database")
        return done

    def deny(
        self, pending: PendingSignal, detail: str, checks: Sequence[CheckResult] | None = None
    ) -> None:
        """Record the signal denied (`checks`: the risk gate's, on its lineage) and tell."""
        data = {} if checks is None else {"checks": msgspec.to_builtins(list(checks))}
        self.record(pending.id, "decision", detail, SignalStatus.DENIED, **data)
        failed = [Reason(c.name, c.detail) for c in checks or () if not c.passed]
        signal = pending.signal
        reasons = tuple(failed) or (Reason("decision", detail),)
        self.notifier.notify(SignalDenied(pending.id, signal.symbol, signal.action.value, reasons,
                                          signal.account))  # fmt: skip

    def expired(self, entries: Sequence[PendingSignal]) -> bool:
        """Record `expired` on entries (one signal, or a unit's legs) whose oldest was received
        more than `max_delay_seconds` ago: intake screened them on arrival, but a backlog, a
        dead worker's job or a drained spool can deliver them much later. Exits never expire."""
        now, limit = self.clock(), self.policy.max_delay_seconds
        oldest = min(p.received_at for p in entries)
        reason = execution_delay(oldest, now, max_delay_seconds=limit)
        if reason is None:
            return False
        delay = round((now - oldest).total_seconds(), 3)
        for pending in entries:
            self.record(pending.id, "decision", reason, SignalStatus.EXPIRED,
                        delay_seconds=delay, max_delay_seconds=limit)  # fmt: skip
        return True

    def new_bracket(
        self, pending: PendingSignal, venue: str, side: Side, market: Market, **terms: Any
    ) -> Bracket:
        """The signal's bracket on `venue`, opened now, with no order yet."""
        return Bracket(
            id=pending.id,
            account=pending.signal.account,
            venue=venue,
            symbol=pending.signal.symbol,
            side=side,
            market=market,
            opened_at=self.clock(),
            client_id_length=self.venues[venue].capabilities.client_order_id_max_length,
            stop_watched=not self.venues[venue].capabilities.stop_market,
            client_id_lowercase=self.venues[venue].capabilities.client_order_id_lowercase,
            **terms,
        )

    def doubt(self, signal: Signal, account: AccountState) -> str | None:
        """Why no entry may go to the signal's account and symbol while an order of theirs is
        in doubt (it may have entered already), or None. A drift under
        `DRIFT_POLICY=reduce_only` holds the symbol's entries back too."""
        if self.holds is not None and (held := self.holds.entry_hold(signal.symbol)):
            return held
        return entry_denial(account.in_doubt)

    async def snapshot(
        self, signal: Signal, state: AccountState, views: Sequence[VenueView], *, leg: bool = False
    ) -> AccountSnapshot:
        """The account as the risk gate reads it for `signal`, today's loss counted in the
        account's currency (`with_day_pnl`); `leg`: a unit's leg, whose quote need not convert."""
        snapshot = snapshot_of(signal.account, state, views)
        entry_symbol = None if leg else signal.symbol
        limits = self.rules(signal.account).limits
        return await with_day_pnl(snapshot, state, views, self.venues, limits, entry_symbol,
                                  in_process=self.in_process)  # fmt: skip

    async def quote_early(self, account: str, symbol: str) -> None:
        """Ask the venues for `symbol` as a run of the account-and-symbol key begins, under its
        lock: they answer while its queue and the account are read. The first signal of the
        run that reads quotes takes these, unless this process sent an order or a cancel since
        (`account_and_quotes`); `drop_early` ends them."""
        if not self.in_process:
            sent, asked_at = self.driver.sent, time.monotonic()
            self.early[(account, symbol)] = Early(await self._asking(account, symbol), sent,
                                                   asked_at)  # fmt: skip

    async def drop_early(self, account: str, symbol: str) -> None:
        """The early quotes of the key, if no signal took them: cancelled; the account read
        with its queue, dropped."""
        self.early_accounts.pop((account, symbol), None)
        if (early := self.early.pop((account, symbol), None)) is not None:
            await ended(early.quoting)

    async def _asking(self, account: str, symbol: str) -> asyncio.Future[list[VenueView]]:
        """The quotes of `symbol` for `account`, asked: their requests are on their way."""
        rules = self.rules(account)
        # the marks MAX_DAILY_LOSS counts, read in the same round trip as the quotes
        held = self.held.get(account) if rules.limits.daily_loss_counts_unrealized else None
        quoting = asyncio.ensure_future(self._quotes(symbol, rules.venues, held))
        await requests_sent()  # before the caller blocks the loop on the database
        return quoting

    async def account_and_quotes(
        self, account: str, symbol: str
    ) -> tuple[AccountState, list[VenueView]]:
        """The account from the database while the venues answer: the venue requests go out
        first (or went as the key's run began: `quote_early`), the database is read while they
        are on their way."""
        if self.in_process:
            views = await self._quotes(symbol, self.rules(account).venues)
            return self.account(account, symbol), views
        early = self.early.pop((account, symbol), None)
        if early is not None and early.fresh(self.driver.sent):
            quoting = early.quoting
        else:  # none, or asked before this process changed something on a venue, or too long ago
            if early is not None:
                await ended(early.quoting)
            quoting = await self._asking(account, symbol)
        try:
            state = self.account(account, symbol)
        except BaseException:
            await ended(quoting)
            raise
        return state, await quoting

    def queued(self, account: str, symbol: str, up_to: str) -> Iterator[PendingSignal]:
        """The key's queued signals up to `up_to`, oldest first, as its run begins; where the
        store reads them with the account in one round trip (PostgreSQL), the account's
        reservations are read first and the account is kept for the run's first signal
        (`account`), unless this process sends an order or a cancel before it reads it: the
        next signal's turn, or `drop_early`, drops it."""
        if not self.store.reads_together:
            yield from self.store.pending(account, symbol, up_to)
            return
        key = (account, symbol)
        reserved = self.reservations.read(account, self.clock())
        ids = [e.id for e in reserved.entries]
        queue, state = self.store.pending_and_account(account, symbol, up_to, self.clock(), ids)
        self.early_accounts[key] = (self._held_in(account, state, reserved), self.driver.sent)
        for number, pending in enumerate(queue):
            if number:
                self.early_accounts.pop(key, None)
            yield pending

    def account(self, account: str, symbol: str) -> AccountState:
        """The account's reservations, then the book (`read_account`); the account read with
        the key's queue if nothing was sent since (`queued`)."""
        early = self.early_accounts.pop((account, symbol), None)
        if early is not None and early[1] == self.driver.sent:
            return early[0]
        return self.read_account(account, symbol, self.reservations.read(account, self.clock()))

    def note_held(self, account: str, venue: str, symbol: str) -> None:
        """An entry of `account` was placed: its mark is read with the next signal's quotes."""
        self.held[account] = self.held.get(account, frozenset()) | {(venue, symbol)}

    def read_account(self, account: str, symbol: str, reserved: Reserved) -> AccountState:
        """The account from the book, read after its reservations `reserved` were: an entry
        whose reservation is gone by now was on record in the book before it went."""
        ids = [e.id for e in reserved.entries]
        return self._held_in(account, self.store.account_state(account, symbol, self.clock(), ids),
                             reserved)  # fmt: skip

    def _held_in(self, account: str, state: AccountState, reserved: Reserved) -> AccountState:
        """`state` with the reservations it was read after; its positions noted for the next
        quotes' marks (`held`)."""
        self.held[account] = frozenset(
            (h.venue, h.symbol)
            for h in state.holdings
            if h.position > 0 and h.entry_price is not None
        )
        return msgspec.structs.replace(state, reserved=reserved)

    async def _quotes(
        self,
        symbol: str,
        only: frozenset[str] | None,
        held: frozenset[tuple[str, str]] | None = None,
    ) -> list[VenueView]:
        """Every venue's view of `symbol` (`only`: those venues, an account's), with the marks
        of the other positions `held` on each."""
        venues = [(n, v) for n, v in self.venues.items() if only is None or n in only]
        if self.in_process:
            return [await self._quote(n, v, symbol) for n, v in venues]
        marks = {n: sorted(s for v, s in held or () if v == n and s != symbol) for n, _ in venues}
        return list(await asyncio.gather(*(self._quote(n, v, symbol, marks[n]) for n, v in venues)))

    def _quote(
        self, name: str, venue: Exchange, symbol: str, marks: Sequence[str] = ()
    ) -> Awaitable[VenueView]:
        mode = self.modes.get(name, "paper")
        return venue_view(name, venue, symbol, marks, depth=self.policy.book_depth, mode=mode,
                          in_process=self.in_process)  # fmt: skip
