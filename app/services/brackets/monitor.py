"""The bracket monitor: on a schedule, reads every open bracket's orders back from its venue,
enforces one-cancels-the-other, fires watched targets, settles what is closed, and resolves
orders whose outcome was unknown (the reconciliation, at start-up and on every round).

It takes the same account-and-symbol lock as the workers, without waiting: a bracket a worker
is busy with is simply looked at on the next round.

A round that fails, whatever the reason, is logged with its traceback, counted, and tried again
after a backoff: the loop never ends on an error, since nothing else protects the brackets.
A bracket whose own actions keep failing (still work to do after the driver's rounds, or a venue
error) waits longer and longer before it is tried again (one interval, doubled after each
failure, at most `MAX_BRACKET_BACKOFF_SECONDS`): real venues ban keys that hammer them, and
after `INCIDENT_AFTER` failures in a row it is one ERROR and one lineage step, not a loop. Each
finished round is recorded by the heartbeat (`/ready` and `/metrics` show it). `active` is the
lease: a monitor that stopped holding it stops acting on brackets before its next one.

Venues' order streams (`app.services.brackets.streams`) make it faster and lighter: `wake` asks
for the brackets whose orders a stream says changed to be driven at once, between rounds, the
same way a round drives them; while a venue's stream is trusted its brackets are read back every
`slow_interval_seconds` only (their price, where a target or stop is watched, every round).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field

from app.domain.brackets.bracket import FINAL, Bracket
from app.domain.orders import OrderState
from app.ports.errors import ExchangeError, StaleBracket, Unavailable
from app.ports.exchange import Exchange
from app.ports.execution import ExecutionStore, KeyLocks, lock_key
from app.ports.lease import Heartbeat
from app.ports.streams import OrderUpdate
from app.services.brackets.driver import BracketDriver
from app.services.brackets.exits import watched
from app.services.brackets.quiet import QuietBrackets
from app.services.brackets.streams import StreamTrust

log = logging.getLogger("signalgate.monitor")
MAX_BACKOFF_SECONDS = 30.0
MAX_BRACKET_BACKOFF_SECONDS = 300.0
INCIDENT_AFTER = 3  # failed rounds of one bracket in a row


def _always() -> bool:
    return True


@dataclass(kw_only=True, eq=False)
class BracketMonitor:
    store: ExecutionStore
    venues: Mapping[str, Exchange]
    driver: BracketDriver
    locks: KeyLocks
    interval_seconds: float = 0.5
    heartbeat: Heartbeat | None = None
    active: Callable[[], bool] = _always
    max_backoff_seconds: float = MAX_BACKOFF_SECONDS
    now: Callable[[], float] = time.monotonic
    failed_rounds: int = field(default=0, init=False)  # since the start, for the logs and tests
    # brackets whose actions keep failing: failures in a row, and when to try again
    restless: dict[str, tuple[int, float]] = field(default_factory=dict, init=False)
    # the open brackets as last read, by id, with the version they were read at
    _seen: dict[str, tuple[object, Bracket]] = field(default_factory=dict, init=False)
    trust: StreamTrust = field(default_factory=StreamTrust)  # the venues' order streams
    slow_interval_seconds: float = 10.0  # how often a trusted stream's venue is read back
    _polled_at: dict[str, float] = field(default_factory=dict, init=False)  # by venue
    _told: list[tuple[str, OrderUpdate]] = field(default_factory=list, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    # updates the streams told, and brackets driven on their word (for /metrics and tests)
    told: int = field(default=0, init=False)
    woken: int = field(default=0, init=False)
    _round_asked: bool = field(default=False, init=False)
    _quiet: QuietBrackets = field(default_factory=QuietBrackets, init=False)

    def _open_brackets(self) -> list[Bracket]:
        """Every open bracket, reading and decoding only those saved since the last round."""
        versions = self.store.open_bracket_versions()
        changed = [i for i, v in versions.items() if i not in self._seen or self._seen[i][0] != v]
        fresh = {b.id: b for b in self.store.brackets_by_id(changed)}
        self._seen = {
            i: (v, fresh[i]) if i in fresh else self._seen[i]
            for i, v in versions.items()
            if i in fresh or i in self._seen
        }
        self._quiet.keep_only(self._seen)
        return [bracket for _, bracket in sorted(self._seen.values(), key=lambda s: s[1].id)]

    async def run_once(self) -> int:
        """One round over every open bracket; returns how many needed work.

        A bracket whose orders the venue reports as saved, and whose plan has nothing to do, is
        left alone without taking its lock; the loop yields between brackets, so the paper host
        sharing this process keeps answering the workers. A venue whose order stream is
        trusted is read back only when `slow_interval_seconds` have passed since its last full
        round (its watched brackets get their price checked every round).
        """
        started = self.now()
        full = {
            venue
            for venue in self.venues
            if not self.trust.trusted(venue)
            or started - self._polled_at.get(venue, -1e18) >= self.slow_interval_seconds
        }
        worked = 0
        for listed in self._open_brackets():
            await asyncio.sleep(0)
            if not self.active():  # the lease lapsed: another monitor may be acting now
                return worked
            worked += await self._look(listed, full=listed.venue in full or self._doubtful(listed))
        for venue in full:
            self._polled_at[venue] = started
            self.trust.polled(venue, started)
        return worked

    @staticmethod
    def _doubtful(bracket: Bracket) -> bool:
        """Orders only a lookup can settle: never left to a stream."""
        return any(o.state in (OrderState.SUBMITTED, OrderState.UNKNOWN) for o in bracket.orders)

    async def _look(self, listed: Bracket, *, full: bool = True) -> int:
        """Drive `listed` if its orders or its price call for it: 1 if it needed work. Not
        `full`: its orders are not read back (a trusted stream tells their changes), only the
        price of a watched target or stop is checked."""
        if (waiting := self.restless.get(listed.id)) and self.now() < waiting[1]:
            return 0
        venue = self.venues.get(listed.venue)
        if venue is None:
            log.error("bracket %s is on venue %s, which is not configured", listed.id,
                      listed.venue)  # fmt: skip
            return 0
        if not full and not watched(listed):
            return 0
        try:
            statuses = await self.driver.statuses(listed, venue) if full else []
            if not await self.driver.needs_work(listed, statuses, venue, self._quiet):
                self._settled(listed)
                return 0
            async with self.locks.try_hold(lock_key(listed.account, listed.symbol)) as fence:
                if fence is None:
                    return 0
                with self.store.batch(fence):  # the holder's; written before the lock goes
                    bracket = self.store.bracket(listed.id)  # as it is now, under the lock
                    if bracket is None or bracket.state in FINAL:
                        return 0
                    if bracket != listed or not full:  # changed, or not read: read the venue
                        statuses = await self.driver.statuses(bracket, venue)
                    bracket = self.driver.refresh(bracket, statuses)
                    bracket, settled = await self.driver.drive_settled(bracket, venue)
                    if settled:
                        self._settled(bracket)
                    else:
                        self._failed(bracket, "")
                return 1
        except ExchangeError as error:
            log.warning("bracket %s on %s: %s", listed.id, venue.name, error)
            self._failed(listed, str(error))
        except StaleBracket:  # logged by the store; the newer holder drives it
            pass
        return 0

    @property
    def idle(self) -> bool:
        """Nothing told by a stream waits to be driven."""
        return not self._told

    def reconcile(self) -> None:
        """A stream (re)subscribed: a full round now, so that it can be trusted after it."""
        self._round_asked = True
        self._wake.set()

    def wake(self, venue: str, updates: list[OrderUpdate]) -> None:
        """A venue's stream says these orders changed: drive their brackets at once."""
        self.told += len(updates)
        if updates:
            self._told.extend((venue, update) for update in updates)
            self._wake.set()

    async def run_told(self) -> int:
        """Drive the open brackets the streams told of since the last call (each once, however
        many updates named it); returns how many needed work. An update naming no bracket
        known yet reads the open brackets again first (one saved since the last round)."""
        told, self._told = self._told, []
        if not told:
            return 0
        found, missing = self._told_brackets(told)
        if missing:
            self._open_brackets()
            found, _ = self._told_brackets(told)
        worked = 0
        for bracket in found:
            if not self.active():
                return worked
            self.woken += 1
            worked += await self._look(bracket)
        return worked

    def _told_brackets(self, told: list[tuple[str, OrderUpdate]]) -> tuple[list[Bracket], bool]:
        by_order: dict[tuple[str, str], Bracket] = {}
        for _, bracket in self._seen.values():
            for order in bracket.orders:
                by_order[bracket.venue, order.client_order_id] = bracket
                if order.order_id is not None:
                    by_order[bracket.venue, order.order_id] = bracket
                    by_order[bracket.venue, order.order_id.rpartition(":")[2]] = bracket
        found: dict[str, Bracket] = {}
        missing = False
        for venue, update in told:
            keys = [k for k in (update.client_order_id, update.order_id) if k]
            hit = next((by_order[venue, k] for k in keys if (venue, k) in by_order), None)
            if hit is None:
                missing = True
            else:
                found[hit.id] = hit
        return list(found.values()), missing

    def _settled(self, bracket: Bracket) -> None:
        if self.restless.pop(bracket.id, None) is not None:
            log.info("bracket %s settled again", bracket.id)

    def _failed(self, bracket: Bracket, why: str) -> None:
        """Try `bracket` again later, the longer the more rounds in a row failed."""
        failures = self.restless.get(bracket.id, (0, 0.0))[0] + 1
        wait = min(self.interval_seconds * 2 ** (failures - 1), MAX_BRACKET_BACKOFF_SECONDS)
        self.restless[bracket.id] = (failures, self.now() + wait)
        if failures == INCIDENT_AFTER:
            detail = (
                f"{failures} rounds in a row left work undone on {bracket.venue}"
                f"{f' ({why})' if why else ''}; tried again less and less often, at most every"
                f" {MAX_BRACKET_BACKOFF_SECONDS:.0f} s: read the lineage and the venue's account"
            )
            log.error("bracket %s keeps failing: %s", bracket.id, detail)
            self.driver.incident(bracket, "restless", detail)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("bracket monitor: every %.2f s", self.interval_seconds)
        failures = 0  # in a row
        due = self.now()
        while not stop.is_set():
            if self.now() >= due or self._round_asked:
                self._round_asked = False
                failures = 0 if await self.guarded_round() else failures + 1
                # doubling up to a bound: a failure that repeats every round must not flood the
                # logs
                wait = min(self.interval_seconds * 2**failures, self.max_backoff_seconds)
                due = self.now() + max(wait, self.interval_seconds)
            if self._told:
                await self._guarded(self.run_told())
            if self._told or self._round_asked:
                continue
            self._wake.clear()  # nothing awaited since the checks: no wake is lost
            woken = asyncio.create_task(self._wake.wait())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({woken, stopped}, timeout=max(0.0, due - self.now()),
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            for task in (woken, stopped):
                task.cancel()

    async def _guarded(self, work: Coroutine[object, object, int]) -> None:
        try:
            await work
        except Exception:
            self.failed_rounds += 1
            log.exception("bracket monitor: driving what a stream told of failed; the next"
                          " round reads it back")  # fmt: skip

    async def guarded_round(self) -> bool:
        """One round and its heartbeat; False (logged and counted) if either failed."""
        try:
            await self.run_once()
            if self.heartbeat is not None and self.active():
                await self.heartbeat.beat()
        except Unavailable as error:
            self.failed_rounds += 1
            log.warning("bracket monitor: database unavailable (%s); retrying", error)
            return False
        except Exception:
            self.failed_rounds += 1
            log.exception("bracket monitor: the round failed (%d failed rounds so far); retrying",
                          self.failed_rounds)  # fmt: skip
            return False
        return True
