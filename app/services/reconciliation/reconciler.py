"""The reconciler: at start and every `interval_seconds`, per venue, signalgate's book against the
venue's truth (`app.services.reconciliation`).

Runs in the monitor process, beside the bracket monitor, and acts only while `active` (the
monitor's lease) holds. A run that fails is logged and tried again on the next one: nothing ends
the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import msgspec

from app.domain.brackets.bracket import Bracket
from app.domain.market import Market
from app.domain.notifications import Drift
from app.domain.orders import OrderStatus, Side
from app.domain.reconciliation import (
    Comparison,
    DriftPolicy,
    drift_sentence,
    show,
    tolerance,
    unsettled,
)
from app.domain.risk_values import TradingState
from app.ports.errors import ExchangeError, StaleBracket, Unavailable
from app.ports.exchange import Exchange
from app.ports.execution import ExecutionStore, KeyLocks
from app.ports.notifications import NoNotifier, Notifier
from app.ports.reconciliation import KeyState, ReconciliationStore, VenueRun
from app.services.brackets.driver import BracketDriver
from app.services.reconciliation.book import (
    Key,
    held_by_brackets,
    involved,
    keys_to_compare,
    read_venue,
)
from app.services.reconciliation.drift import Compare, DriftSettler, Recompare, Settled
from app.services.reconciliation.orphans import cancel_orphans, orphans
from app.services.trading import switch_trading

log = logging.getLogger("signalgate.reconciliation")
_ZERO = Decimal(0)


def _always() -> bool:
    return True


def _ignore(_: str) -> None:
    return None


@dataclass(kw_only=True, eq=False)
class Reconciler:
    store: ExecutionStore
    records: ReconciliationStore
    venues: Mapping[str, Exchange]
    driver: BracketDriver
    locks: KeyLocks
    clock: Callable[[], datetime]
    policies: Mapping[str, DriftPolicy] = field(default_factory=dict)  # by venue; else flag
    # (venue, asset or swap symbol) -> what the user holds outside signalgate (a setting)
    baselines: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)
    symbols: Sequence[str] = ()  # compared on every venue that lists them, held or not
    interval_seconds: float = 30.0
    active: Callable[[], bool] = _always
    on_adjusted: Callable[[str], None] = _ignore  # a bracket changed: the monitor tries it now
    notifier: Notifier = field(default_factory=NoNotifier)  # drift incidents, told
    failed_runs: int = field(default=0, init=False)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("reconciliation: every %.0f s", self.interval_seconds)
        while not stop.is_set():
            if self.active():
                await self.guarded_run()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_seconds)

    async def guarded_run(self) -> bool:
        """One run; False (logged and counted) if it failed."""
        try:
            await self.run_once()
        except Unavailable as error:
            self.failed_runs += 1
            log.warning("reconciliation: database unavailable (%s); next run in %.0f s", error,
                        self.interval_seconds)  # fmt: skip
            return False
        except Exception:
            self.failed_runs += 1
            log.exception("reconciliation: the run failed (%d so far); next run in %.0f s",
                          self.failed_runs, self.interval_seconds)  # fmt: skip
            return False
        return True

    async def run_once(self) -> list[KeyState]:
        """Every venue once; returns the states written."""
        self._release_gone_venues()
        states: list[KeyState] = []
        for name, venue in list(self.venues.items()):  # a copy: venues are added meanwhile
            if not self.active():  # the lease lapsed: another monitor may be acting now
                break
            states += await self.reconcile(name, venue)
        return states

    def _release_gone_venues(self) -> None:
        """A venue no longer configured holds no entry back: nothing reconciles it any more."""
        gone = [s for s in self.records.states() if s.hold and s.venue not in self.venues]
        if gone:
            self.records.save_states([msgspec.structs.replace(s, hold=False) for s in gone])

    async def reconcile(self, name: str, venue: Exchange) -> list[KeyState]:
        """One venue: orphan orders cancelled, then each key compared and any drift acted on."""
        now = self.clock()
        before = next((r for r in self.records.runs() if r.venue == name), None)
        orphans_before = before.orphans_cancelled if before else 0
        previous = {s.symbol: s for s in self.records.states(name)}
        try:
            resting = await self._resting(name, venue, previous)  # the venue first: see orphans
            reading = await read_venue(venue)
        except ExchangeError as error:
            log.warning("reconciliation: %s could not be read (%s); next run in %.0f s", name,
                        error, self.interval_seconds)  # fmt: skip
            self.records.save_run(VenueRun(name, now, str(error), orphans_before))
            return []
        every_open = self.store.open_brackets()
        open_brackets = [b for b in every_open if b.venue == name]
        # a client order id is the book's, whatever the venue: a leg that another connection
        # holding the same keys placed is listed here too, and is not an orphan
        cancelled = await cancel_orphans(venue, orphans(resting, every_open))
        settled = await self._settled(name)
        baselines = self.records.baselines(name)
        states: list[KeyState] = []
        keys = keys_to_compare(reading.markets, open_brackets, [*self.symbols, *previous])
        for key, markets in keys.items():
            brackets = involved(key, open_brackets)
            held = held_by_brackets(key, reading.markets, brackets, settled)
            baseline = self._baseline(name, key, reading.held(key) - held, baselines, brackets, now)
            if baseline is None:
                continue
            seen = Comparison(name, markets[0].symbol, key[0], key[1], reading.held(key),
                              baseline, held, tolerance(markets[0]))  # fmt: skip
            settled_drift = None
            if seen.drift:
                if not self.active():  # acting on brackets is the lease holder's alone
                    break
                settled_drift = await self._settle(venue, key, brackets, seen)
                if settled_drift is None:  # not certain yet: the last state stands
                    continue
            states += self._states(name, markets, seen, settled_drift, previous, now)
        self.records.save_states(states)
        self.records.save_run(VenueRun(name, now, None, orphans_before + cancelled))
        return states

    async def _settled(self, venue: str) -> dict[tuple[str, Side], Decimal]:
        """What settled brackets left on `venue`, read off the event loop: the read grows with
        the history of settled brackets (docs/benchmarks.md), and the loop serves the paper
        venues meanwhile."""
        return await asyncio.to_thread(self.records.settled_positions, venue)

    async def _resting(
        self, name: str, venue: Exchange, previous: Mapping[str, KeyState]
    ) -> list[OrderStatus]:
        """Every open order of the venue; symbol by symbol (those compared) on a venue that lists
        them only so."""
        try:
            return await venue.open_orders()
        except ExchangeError as error:
            log.debug("%s lists no open orders without a symbol (%s)", name, error)
        markets = await venue.markets()
        held = {b.symbol for b in self.store.open_brackets() if b.venue == name}
        found: list[OrderStatus] = []
        for symbol in sorted({*self.symbols, *previous, *held}):
            if symbol in markets:
                found += await venue.open_orders(symbol)
        return found

    async def _settle(
        self, venue: Exchange, key: Key, brackets: list[Bracket], seen: Comparison
    ) -> Settled | None:
        """The drift `seen` made certain and acted on under the brackets' locks (`drift`)."""
        settler = DriftSettler(self.store, self.driver, self.locks, self.clock)
        try:
            return await settler.settle(venue, key, brackets, self._recompare(venue, key, seen))
        except ExchangeError as error:
            log.warning("reconciliation: %s %s could not be checked (%s); next run", venue.name,
                        key[0], error)  # fmt: skip
            return None
        except StaleBracket:  # logged by the store; the newer holder drives it
            return None

    def _baseline(
        self,
        venue: str,
        key: Key,
        unexplained: Decimal,
        kept: dict[str, Decimal],
        brackets: list[Bracket],
        at: datetime,
    ) -> Decimal | None:
        """The setting's baseline, else the recorded one, else `unexplained` recorded now (the
        first reconciliation of the key: what the brackets do not hold is the user's own); None
        while a bracket's order has an unknown outcome (what it holds is not known yet)."""
        if (set_ := self.baselines.get((venue, key[0]))) is not None:
            return set_
        if (recorded := kept.get(key[0])) is not None:
            return recorded
        if any(unsettled(b) for b in brackets):
            return None
        self.records.record_baseline(venue, key[0], unexplained, at)
        kept[key[0]] = unexplained
        log.info("reconciliation: %s holds %s %s outside signalgate's brackets: recorded as its"
                 " baseline", venue, show(unexplained), key[0])  # fmt: skip
        return unexplained

    def _recompare(self, venue: Exchange, key: Key, seen: Comparison) -> Recompare:
        """The comparison of `key` again: the venue read anew, then compared with the brackets
        read back after it (`DriftSettler.settle`)."""

        async def recompare() -> Compare:
            reading = await read_venue(venue)

            async def compare(brackets: Sequence[Bracket]) -> Comparison:
                settled = await self._settled(venue.name)
                held = held_by_brackets(key, reading.markets, brackets, settled)
                return msgspec.structs.replace(seen, held=reading.held(key), brackets=held)

            return compare

        return recompare

    def _states(
        self,
        venue: str,
        markets: list[Market],
        seen: Comparison,
        settled: Settled | None,
        previous: Mapping[str, KeyState],
        now: datetime,
    ) -> list[KeyState]:
        """The key's state for each of its symbols; a new incident logged, on the lineage of the
        brackets involved, and the venue's policy applied."""
        found = settled.found if settled else seen
        after = settled.after if settled else seen
        policy = self.policies.get(venue, DriftPolicy.FLAG)
        last = previous.get(markets[0].symbol)
        unexplained = after.drift
        taken = settled.taken if settled else _ZERO
        incident = bool(taken) or bool(unexplained and unexplained != (last.drift if last else 0))
        note = last.note if last else None
        if incident:
            note = drift_sentence(found, taken, unexplained)
            self._incident(venue, note, settled, policy, now)
        elif last is not None and last.drift and not unexplained:
            log.info("drift gone on %s %s: the venue holds what the book says (%s)", venue,
                     last.key, show(after.held))  # fmt: skip
        since = (last.drift_since if last and last.drift else now) if unexplained else None
        return [
            KeyState(
                venue=venue,
                symbol=market.symbol,
                key=after.key,
                kind=after.kind.value,
                venue_amount=after.held,
                book=after.book,
                baseline=after.baseline,
                brackets=after.brackets,
                drift=unexplained,
                policy=policy.value,
                hold=policy is DriftPolicy.REDUCE_ONLY and bool(unexplained),
                checked_at=now,
                drift_since=since,
                incidents=(last.incidents if last else 0) + int(incident),
                adjusted=(last.adjusted if last else _ZERO) + taken,
                note=note,
            )
            for market in markets
        ]

    def _incident(
        self, venue: str, note: str, settled: Settled | None, policy: DriftPolicy, now: datetime
    ) -> None:
        log.error("DRIFT on %s: %s (DRIFT_POLICY=%s)", venue, note, policy)
        accounts = tuple(sorted({b.account for b in settled.involved})) if settled else ()
        self.notifier.notify(Drift(venue, note, policy.value, now, accounts))
        if settled is not None:
            for bracket in settled.involved:
                if bracket.id in settled.adjusted:
                    self.on_adjusted(bracket.id)  # its own step was written with the change
                else:
                    self.driver.incident(bracket, "drift", note)
        if policy is DriftPolicy.HALT and self.store.trading_state() is not TradingState.HALTED:
            reason = f"drift on {venue}: {note}"
            switch_trading(self.store, self.notifier, TradingState.HALTED, now, reason)
            log.error("trading HALTED by DRIFT_POLICY=halt: %s", reason)
