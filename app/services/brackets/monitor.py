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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from app.domain.brackets.bracket import FINAL, Bracket
from app.ports.errors import ExchangeError, StaleBracket, Unavailable
from app.ports.exchange import Exchange
from app.ports.execution import ExecutionStore, KeyLocks, lock_key
from app.ports.lease import Heartbeat
from app.services.brackets.driver import BracketDriver

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
        return [bracket for _, bracket in sorted(self._seen.values(), key=lambda s: s[1].id)]

    async def run_once(self) -> int:
        """One round over every open bracket; returns how many needed work.

        A bracket whose orders the venue reports as saved, and whose plan has nothing to do, is
        left alone without taking its lock; the loop yields between brackets, so the paper host
        sharing this process keeps answering the workers.
        """
        worked = 0
        for listed in self._open_brackets():
            await asyncio.sleep(0)
            if not self.active():  # the lease lapsed: another monitor may be acting now
                return worked
            if (waiting := self.restless.get(listed.id)) and self.now() < waiting[1]:
                continue
            venue = self.venues.get(listed.venue)
            if venue is None:
                log.error("bracket %s is on venue %s, which is not configured", listed.id,
                          listed.venue)  # fmt: skip
                continue
            try:
                statuses = await self.driver.statuses(listed, venue)
                if not await self.driver.needs_work(listed, statuses, venue):
                    self._settled(listed)
                    continue
                async with self.locks.try_hold(lock_key(listed.account, listed.symbol)) as fence:
                    if fence is None:
                        continue
                    with self.store.batch(fence):  # the holder's; written before the lock goes
                        bracket = self.store.bracket(listed.id)  # as it is now, under the lock
                        if bracket is None or bracket.state in FINAL:
                            continue
                        if bracket != listed:  # a worker changed it: read the venue again
                            statuses = await self.driver.statuses(bracket, venue)
                        bracket = self.driver.refresh(bracket, statuses)
                        bracket, settled = await self.driver.drive_settled(bracket, venue)
                        if settled:
                            self._settled(bracket)
                        else:
                            self._failed(bracket, "")
                    worked += 1
            except ExchangeError as error:
                log.warning("bracket %s on %s: %s", listed.id, venue.name, error)
                self._failed(listed, str(error))
            except StaleBracket:  # logged by the store; the newer holder drives it
                continue
        return worked

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
        while not stop.is_set():
            failures = 0 if await self.guarded_round() else failures + 1
            # doubling up to a bound: a failure that repeats every round must not flood the logs
            wait = min(self.interval_seconds * 2**failures, self.max_backoff_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(wait, self.interval_seconds))

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
