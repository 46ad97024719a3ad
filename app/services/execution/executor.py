"""Execution: a queued signal becomes a bracket on the best venue, or a denial with its reasons.

`Executor.execute(signal_id)` is the worker's job. It takes the account-and-symbol lock and runs
every queued signal of that key up to this one, oldest first, so signals execute in arrival
order however many workers run (a reversal never races its own entry), and a job that finds its
signal done returns at once (jobs may run twice). Each signal: the account snapshot, the risk
gate, sizing, routing, then the entry and its legs, every step on the signal's lineage.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import msgspec

from app.domain.accounts import VenueAccess
from app.domain.brackets import notices
from app.domain.brackets.bracket import FINAL, Bracket, BracketState, reported, with_order
from app.domain.execution_policy import ExecutionPolicy
from app.domain.market import MarketKind
from app.domain.orders import OrderState, Side
from app.domain.risk import Approved, Denied, check, check_before_sizing
from app.domain.risk_values import CheckResult, RiskLimits, TradingState
from app.domain.routing import Candidate, NoRoute, Route, choose_route
from app.domain.signals import PENDING, Action, SignalStatus
from app.domain.sizing import SizingPolicy, Unsizable
from app.domain.targets import Targets
from app.ports.accounts import AccountBook
from app.ports.errors import Fatal, OutcomeUnknown, Retryable
from app.ports.exchange import Exchange
from app.ports.execution import Busy, ExecutionStore, KeyLocks, PendingSignal, lock_key
from app.ports.notifications import NoNotifier, Notifier
from app.ports.reconciliation import HOLD_CHECK, EntryHolds, held_back
from app.ports.reservations import LocalReservations, Reservations
from app.services.brackets.doubt import CHECK as DOUBT
from app.services.brackets.driver import BracketDriver
from app.services.execution import views
from app.services.execution.context import ExecutionContext, SignalMissing
from app.services.execution.entry_terms import (
    entry_order,
    policy_verdict,
    reference_price,
    retarget,
    side_of,
    sized_for,
    sizing_market,
    targets_for,
)
from app.services.execution.leverage import Leverages
from app.services.execution.position_sync import PositionSyncer
from app.services.execution.reservations import EntryGate
from app.services.execution.units import UnitExecutor
from app.services.execution.views import Denial, VenueView, risk_request, route_detail

log = logging.getLogger("signalgate.execution")
_to_json = msgspec.to_builtins


class Executor:
    def __init__(
        self,
        *,
        store: ExecutionStore,
        venues: Mapping[str, Exchange],
        modes: Mapping[str, str],
        clock: Callable[[], datetime],
        locks: KeyLocks,
        limits: RiskLimits,
        sizing: SizingPolicy,
        policy: ExecutionPolicy | None = None,
        in_process: bool = False,
        holds: EntryHolds | None = None,
        reservations: Reservations | None = None,
        leverages: Mapping[str, Decimal] | None = None,
        notifier: Notifier | None = None,
        accounts: AccountBook | None = None,
        venue_access: Callable[[], VenueAccess] | None = None,
    ) -> None:
        """`in_process`: every venue answers in this process (a backtest), so reads are made
        one after the other, without tasks to overlap their round trips. `holds`: symbols whose
        entries a drift holds back. `reservations`: the approved entries of every worker (one
        process: its own). `leverages`: each swap venue's default leverage (else 1).
        `notifier`: told of entries, denials, closes and incidents. `accounts`: each account's
        limits, sizing and venues (None: every account trades by `limits` and `sizing`).
        `venue_access`: which venues take new entries now (None: every venue of `venues`)."""
        policy, notifier = policy or ExecutionPolicy(), notifier or NoNotifier()
        self.driver = BracketDriver.for_policy(store, clock, policy, notifier)
        self._ctx = ExecutionContext(
            store, venues, modes, clock, locks, limits, sizing, policy, self.driver, in_process,
            holds, reservations or LocalReservations(), Leverages(leverages or {}), notifier,
            accounts=accounts, venue_access=venue_access,
        )  # fmt: skip
        self._gate = EntryGate(self._ctx)
        self._store, self._venues, self._now = store, venues, clock
        self._record = self._ctx.record
        self._units = UnitExecutor(self._ctx)
        self._sync = PositionSyncer(self._ctx)

    async def execute(self, signal_id: str) -> SignalStatus:
        """Run the signal (and any older queued one of its account and symbol).

        Raises:
            SignalMissing: no such signal yet.
            Busy: another worker holds the key too long; retry later.
            Unavailable: the database went away; retry later.
        """
        return (await self.execute_many([signal_id]))[signal_id]

    async def execute_many(
        self, signal_ids: Sequence[str], keys: Mapping[str, tuple[str, str]] | None = None
    ) -> dict[str, SignalStatus]:
        """Run a batch: each account-and-symbol key in arrival order under its lock, the keys
        side by side (their venue round trips overlap); `keys`: each signal's account and
        symbol, as the job carries them (else read). Same errors as `execute`."""
        self._ctx.outcomes.clear()  # bounded: a job's own are read at its end
        found, newest = self._ctx.keys_to_run(signal_ids, keys)
        units: set[str] = set()  # linked signals run as units, after the keys
        runs = [self._run_key(a, s, up_to, units) for (a, s), up_to in newest.items()]
        try:  # every key runs to its end before an error of one is raised: a run left pending
            # would resume in the next job, maybe mid-create, after its lease lapsed
            for failed in await asyncio.gather(*runs, return_exceptions=True):
                if isinstance(failed, BaseException):
                    raise failed
            for unit in sorted(units):
                await self._units.run(unit)
        finally:  # the job's reservations end with it
            self._gate.send_releases()
        done = self._ctx.states_after(signal_ids, found, keys) if newest else found
        if units and (waiting := [i for i in signal_ids if done[i].status in PENDING]):
            raise SignalMissing(
                f"signals {', '.join(waiting)} are legs of units still waiting for other legs"
            )
        return {signal_id: done[signal_id].status for signal_id in signal_ids}

    async def _run_key(self, account: str, symbol: str, up_to: str, units: set[str]) -> None:
        async with self._ctx.locks.hold(lock_key(account, symbol)) as fence:
            await self._ctx.quote_early(account, symbol)  # they answer while the queue is read
            try:
                with self._store.batch(fence):  # written before the lock is let go; saves fenced
                    for pending in self._ctx.queued(account, symbol, up_to):
                        if not pending.started and self._ctx.refused(pending):
                            continue  # a unit's legs share the account: each is refused
                        if pending.signal.link is not None:
                            units.add(pending.signal.link.unit)
                        else:
                            await self._one(pending)
            finally:
                await self._ctx.drop_early(account, symbol)

    async def _one(self, pending: PendingSignal) -> None:
        started = self._store.bracket(pending.id) if pending.started else None
        if started is not None:  # a crash or a retry: finish what was begun, place nothing twice
            venue = self._venues[started.venue]
            await self.driver.drive(started, venue)
            self._record(pending.id, "resumed", f"resumed bracket on {started.venue}",
                         SignalStatus.EXECUTED)  # fmt: skip
            return
        signal = pending.signal
        match signal.action:
            case Action.CLOSE:
                await self._close_signal(pending)
            case Action.REVERSE:
                await self._reverse(pending)
            case Action.BUY | Action.SELL:  # POSITION_SYNC first: a drift flagged or aligned
                await self._sync.enter(pending, Side(signal.action), self._entry_signal,
                                       self._flatten_first)  # fmt: skip

    # --- closing ----------------------------------------------------------------------------

    async def _close_all(self, pending: PendingSignal, side: Side | None) -> list[Bracket]:
        """Cancel the legs and flatten every open bracket of the symbol (of `side` if given)."""
        signal = pending.signal
        open_brackets = self._store.open_brackets(signal.account, signal.symbol)
        closed = []
        for bracket in open_brackets:
            if side is not None and bracket.side is not side:
                continue
            closing = msgspec.structs.replace(bracket, closing=True)
            self._store.save_bracket(closing, self._now())
            self._record(bracket.id, "close", f"closed by signal {pending.id}")
            closed.append(await self.driver.drive(closing, self._venues[bracket.venue]))
        return closed

    async def _close_signal(self, pending: PendingSignal) -> None:
        signal, _ = pending.signal, self._sync.flag(pending)
        if self._store.trading_state(signal.account) is TradingState.HALTED:
            self._ctx.deny(
                pending, views.halted_text(self._store, signal.account, "nothing is placed")
            )
            return
        side = side_of(signal.position_side)
        closed = await self._close_all(pending, side)
        if not closed:
            self._record(pending.id, "close", f"no open {signal.symbol} position to close",
                         SignalStatus.EXECUTED)  # fmt: skip
            return
        left = [b.id for b in closed if b.state not in FINAL]  # failed: a resting entry cancelled
        status = SignalStatus.EXECUTED if not left else SignalStatus.FAILED
        detail = f"closed {len(closed) - len(left)} of {len(closed)} {signal.symbol} brackets"
        if left:
            detail += f"; still open: {', '.join(left)} (the monitor keeps trying)"
        self._record(pending.id, "close", detail, status, brackets=[b.id for b in closed])

    async def _reverse(self, pending: PendingSignal) -> None:
        signal, _ = pending.signal, self._sync.flag(pending)
        if self._denied_halted(pending, self._store.trading_state(signal.account)):
            return
        open_brackets = self._store.open_brackets(signal.account, signal.symbol)
        if open_brackets:
            new_side = open_brackets[0].side.opposite
        elif (side := side_of(signal.position_side)) is not None:
            new_side = side
        else:
            self._ctx.deny(pending, f"no open {signal.symbol} position to reverse and the alert"
                           " names no side")  # fmt: skip
            return
        if not await self._flatten_first(pending, new_side.opposite):
            return
        await self._entry_signal(pending, new_side, checked_policy=True)

    def _denied_halted(self, pending: PendingSignal, state: TradingState) -> bool:
        """Deny, before any flattening, a signal that would close and reopen while halted: the
        kill switch places nothing, the closing half included."""
        if state is not TradingState.HALTED:
            return False
        detail = views.halted_text(self._store, pending.signal.account,
                             "nothing is placed, the position stays")  # fmt: skip
        self._ctx.deny(pending, f"denied: {detail}", [CheckResult("trading_state", False, detail)])
        return True

    async def _flatten_first(self, pending: PendingSignal, side: Side) -> bool:
        closed = await self._close_all(pending, side)
        left = [b.id for b in closed if b.state not in FINAL]  # failed: a resting entry cancelled
        if left:
            self._record(pending.id, "close", f"could not flatten {', '.join(left)}: not opening"
                         " the other side", SignalStatus.FAILED)  # fmt: skip
            return False
        return True

    # --- entries ----------------------------------------------------------------------------

    async def _entry_signal(
        self, pending: PendingSignal, side: Side, *, checked_policy: bool = False
    ) -> None:
        if self._ctx.expired([pending]):  # a reverse's closing half has run: exits never expire
            return None
        signal = pending.signal
        limits = (rules := self._ctx.rules(signal.account)).limits
        if self._ctx.denied_without_venue(pending, rules):
            return None
        account, views = await self._ctx.account_and_quotes(signal.account, signal.symbol)
        if doubt := self._ctx.doubt(signal, account):  # a second entry could double it
            result = CheckResult(HOLD_CHECK if held_back(doubt) else DOUBT, False, doubt)
            self._ctx.deny(pending, doubt, [result])
            return None
        if not checked_policy:
            verdict = policy_verdict(self._ctx.policy.entry_policy, signal.symbol, side,
                                     account.holdings)  # fmt: skip
            if isinstance(verdict, str):
                self._ctx.deny(pending, verdict, [CheckResult("entry_policy", False, verdict)])
                return None
            if verdict:
                if self._denied_halted(pending, account.strictest_state):
                    return None
                if not await self._flatten_first(pending, side.opposite):
                    return None
                account, views = await self._ctx.account_and_quotes(signal.account, signal.symbol)
        now, views = self._now(), self._ctx.leverage.levered(signal, views)
        snapshot = await self._ctx.snapshot(signal, account, views)
        early = check_before_sizing(signal.symbol, side, False, snapshot, limits, now)
        denial = Denial(list(early))
        reference = reference_price(signal, side, views)
        market = sizing_market(views, hint := self._ctx.hint(signal.venue, rules.venues))
        if reference is None or market is None:
            denial.add("market_price", f"no venue has a price for {signal.symbol}")
            return self._deny(pending, denial)
        targets = targets_for(
            signal, side, reference, market, denial, limits.default_stop_loss_percent
        )
        stop = targets.stop_loss if targets else None
        sized = sized_for(rules, signal, reference, stop, snapshot.equity, market)
        if isinstance(sized, Unsizable):
            denial.add("sizing", sized.reason)
            return self._deny(pending, denial)
        route = choose_route(
            signal.symbol,
            side,
            sized.amount,
            [view.quote for view in views],
            slippage_bps=self._ctx.policy.slippage_bps,
            venue_hint=hint,
        )
        self._record(pending.id, "sizing", sized.explanation, amount=str(sized.amount),
                     notional=str(sized.notional))  # fmt: skip
        if isinstance(route, NoRoute):
            self._record(pending.id, "route", route.reason, rejected=_to_json(route.rejected))
            denial.add("routing", route.reason)
            return self._deny(pending, denial)
        self._record(pending.id, "route", route_detail(route), chosen=_to_json(route.chosen),
                     alternatives=_to_json(route.alternatives),
                     rejected=_to_json(route.rejected))  # fmt: skip
        request = risk_request(signal, side, route, views, targets, reference)
        if targets is None:  # denied already: nothing to reserve
            decision: Approved | Denied = check(request, snapshot, limits, now)
        else:  # the account-wide limits, with every other entry counted, and the reservation
            decision = self._gate.approve(pending, request, views, account, counted=snapshot)
        if not isinstance(decision, Approved) or targets is None:
            denial.checks = [*decision.checks, *denial.failed_extra]
            return self._deny(pending, denial)
        self._record(pending.id, "decision", "approved: every check passed",
                     checks=_to_json(decision.checks))  # fmt: skip

        def gate(candidate: Candidate) -> Approved | Denied:  # a fallback's own venue
            alone = Route(candidate, (), route.rejected)
            request = risk_request(signal, side, alone, views, targets, reference)
            try:  # its reservation replaces the refused venue's
                return self._gate.approve(pending, request, views, counted=snapshot)
            except Busy as busy:  # a retry would find the refused bracket and call it begun
                return Denied((CheckResult("reservation", False, str(busy)),))

        await self._open(pending, side, route, views, targets, gate)
        self._gate.release(pending)  # on record: the book counts it now
        return None

    def _deny(self, pending: PendingSignal, denial: Denial) -> None:
        self._ctx.deny(pending, "denied: " + "; ".join(denial.reasons), denial.checks)

    async def _open(
        self,
        pending: PendingSignal,
        side: Side,
        route: Route,
        views: Sequence[VenueView],
        targets: Targets,
        gate: Callable[[Candidate], Approved | Denied],
    ) -> None:
        signal = pending.signal
        markets = {v.quote.venue: v.quote.market for v in views}
        candidates = [route.chosen, *route.alternatives]
        for number, candidate in enumerate(candidates):
            venue = self._venues[candidate.venue]
            market = markets[candidate.venue]
            assert market is not None
            if number and isinstance(fallback := gate(candidate), Denied):
                why = "; ".join(fallback.reasons)
                self._record(pending.id, "decision", f"{candidate.venue}, the next venue, is"
                             f" denied: {why}", checks=_to_json(fallback.checks))  # fmt: skip
                continue
            bracket = self._ctx.new_bracket(
                pending, candidate.venue, side, market,
                take_profits=targets.take_profits,
                stop_loss=targets.stop_loss,
                trailing_percent=targets.trailing_percent,
                resting_legs=venue.capabilities.reduce_only and market.kind is MarketKind.SWAP,
            )  # fmt: skip
            entry = entry_order(signal.order_type, bracket, candidate.amount, signal)
            bracket = with_order(bracket, entry)
            try:
                await self._ctx.leverage.ensure(candidate.venue, venue, market, signal)
                status = await self.driver.create(bracket, entry, venue)
            except OutcomeUnknown as error:
                unknown = msgspec.structs.replace(entry, state=OrderState.UNKNOWN)
                self._store.save_bracket(with_order(bracket, unknown), self._now())
                self._record(pending.id, "order", f"entry on {candidate.venue}: no answer"
                             f" ({error}); the monitor looks it up by client order id",
                             SignalStatus.EXECUTED)  # fmt: skip
                return
            except (Fatal, Retryable) as error:
                refused = msgspec.structs.replace(entry, state=OrderState.REJECTED)
                failed = msgspec.structs.replace(
                    with_order(bracket, refused), state=BracketState.FAILED, closed_at=self._now()
                )
                self._store.save_bracket(failed, self._now())
                more = number + 1 < len(candidates)
                self._record(pending.id, "order_refused", f"{candidate.venue} refused the entry:"
                             f" {error}" + ("; trying the next venue" if more else ""))  # fmt: skip
                continue
            bracket = with_order(bracket, reported(entry, status))
            self._ctx.note_held(signal.account, candidate.venue, signal.symbol)
            stop_percent = self._ctx.rules(signal.account).limits.default_stop_loss_percent
            bracket = retarget(bracket, signal, side, targets, stop_percent)
            self._store.save_bracket(bracket, self._now())
            self._record(pending.id, "order", f"entry {entry.kind} {side} {entry.amount}"
                         f" {signal.symbol} on {candidate.venue}: {status.state}",
                         client_order_id=entry.client_order_id, order_id=status.order_id,
                         average_price=str(status.average_price))  # fmt: skip
            book = next(v.quote.book for v in views if v.quote.venue == candidate.venue)
            bracket = await self.driver.drive(bracket, venue, book=book)
            self._record(pending.id, "bracket", f"bracket {bracket.state} on {candidate.venue}",
                         SignalStatus.EXECUTED, state=str(bracket.state))  # fmt: skip
            self._ctx.notifier.notify(notices.executed(bracket))
            return
        self._record(pending.id, "order", "every venue refused the entry", SignalStatus.FAILED)
