"""Units of linked signals (an arbitrage): every leg or none.

A unit runs once all its legs are kept, under the locks of every account and symbol it touches
(taken in sorted order, so two units never wait on each other). Each leg goes through the same
risk gate, sizing and routing as a single signal, on its own venue only, and its price now must
be within the slippage budget of the price the opportunity was found at. If any leg fails a
check, no leg is placed and every leg is denied with every leg's reasons. Then the legs are
placed one after the other as market orders; when one is not filled, the legs already filled
are unwound with opposite market orders, and the unit fails with the unwind on its lineage.

Each leg is kept as a bracket without targets (the entry, and the unwind as its exit), saved
before every send, so a worker killed mid-unit is resumed by the job's retry: orders are looked
up by their client order ids, and a unit that did not complete is unwound.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from decimal import Decimal

import msgspec

from app.domain.brackets.bracket import FINAL, Bracket, BracketState, LegOrder, reported, with_order
from app.domain.brackets.pnl import settled
from app.domain.orders import Leg, OrderKind, OrderState, Side, client_order_id
from app.domain.signals import PENDING, Action, SignalStatus
from app.ports.errors import ExchangeError, OutcomeUnknown
from app.ports.exchange import Exchange
from app.ports.execution import PendingSignal, lock_key
from app.services.execution.context import ExecutionContext
from app.services.execution.reservations import EntryGate
from app.services.execution.unit_checks import ReadyLeg, checked, leg_name

log = logging.getLogger("signalgate.execution")

UNIT_WAIT = timedelta(seconds=5)  # how long the legs kept wait for the unit's missing ones


class UnitExecutor:
    def __init__(self, ctx: ExecutionContext) -> None:
        self._ctx = ctx
        self._store, self._venues, self._now = ctx.store, ctx.venues, ctx.clock
        self._record = ctx.record

    async def run(self, unit_id: str) -> None:
        """Execute the unit if all its legs are kept; leave it be while some are on their way
        (younger than UNIT_WAIT), deny it once they are late."""
        keys = sorted(
            {lock_key(p.signal.account, p.signal.symbol) for p in self._store.unit(unit_id)}
        )
        async with AsyncExitStack() as held:
            fences = [await held.enter_async_context(self._ctx.locks.hold(key)) for key in keys]
            with self._store.batch(*fences):  # written before the locks are let go; fenced
                legs = self._store.unit(unit_id)  # read again under the locks
                try:
                    await self._run(legs)
                finally:  # placed legs are on record (the book counts them), the rest not placed
                    gate = EntryGate(self._ctx)
                    for leg in legs:
                        gate.release(leg)

    async def _run(self, legs: list[PendingSignal]) -> None:
        waiting = [p for p in legs if p.status in PENDING]
        if not waiting:
            return None
        link = waiting[0].signal.link
        assert link is not None
        if any(p.started for p in legs):
            return await self._resume(legs, waiting)
        if len(legs) < link.legs:
            if self._now() - max(p.received_at for p in legs) < UNIT_WAIT:
                return None  # the job is retried; the last leg's own job may run it first
            late = f"only {len(legs)} of the unit's {link.legs} legs arrived within {UNIT_WAIT}"
            return self._deny_all(waiting, [late])
        if refused := [p for p in legs if p.status not in PENDING]:
            return self._deny_all(waiting, [f"{leg_name(p)} is {p.status}" for p in refused])
        if self._ctx.expired(waiting):
            return None
        ready, reasons = await checked(self._ctx, legs)
        if reasons:
            return self._deny_all(waiting, reasons)
        await self._place(ready)
        return None

    def _deny_all(self, waiting: Sequence[PendingSignal], reasons: list[str]) -> None:
        detail = "unit denied, no leg placed: " + "; ".join(reasons)
        for pending in waiting:
            self._ctx.deny(pending, detail)

    # --- placing and unwinding ----------------------------------------------------------------

    async def _place(self, ready: Sequence[ReadyLeg]) -> None:
        placed: list[tuple[PendingSignal, Bracket]] = []
        for number, leg in enumerate(ready):
            bracket = await self._send_entry(leg)
            placed.append((leg.pending, bracket))
            if _filled(bracket) < leg.route.chosen.amount:
                why = f"{leg_name(leg.pending)} was not filled ({_entry(bracket).state})"
                return await self._unwind(placed, why, ready[number + 1 :])
        self._finish(placed, [leg.pending for leg in ready])
        return None

    async def _send_entry(self, leg: ReadyLeg) -> Bracket:
        signal, candidate = leg.pending.signal, leg.route.chosen
        venue = self._venues[candidate.venue]
        market = leg.view.quote.market
        assert market is not None
        side = Side.BUY if signal.action is Action.BUY else Side.SELL
        bracket = self._ctx.new_bracket(
            leg.pending, candidate.venue, side, market, note="arbitrage leg"
        )
        entry = _market_order(bracket, Leg.ENTRY, side, candidate.amount)
        bracket = await self._send(with_order(bracket, entry), entry, venue)
        self._record(
            leg.pending.id,
            "order",
            f"{leg_name(leg.pending)}: market {side} {entry.amount}"
            f" {signal.symbol} on {candidate.venue}: {_entry(bracket).state}",
            client_order_id=entry.client_order_id,
            average_price=str(_entry(bracket).average_price),
        )
        return bracket

    async def _send(self, bracket: Bracket, order: LegOrder, venue: Exchange) -> Bracket:
        """Save, send, and save what the venue said (looked up by client order id when it did
        not answer)."""
        try:
            status = await self._ctx.driver.create(bracket, order, venue)
        except OutcomeUnknown:
            unknown = msgspec.structs.replace(order, state=OrderState.UNKNOWN)
            bracket = await self._ctx.driver.settle_unknowns(with_order(bracket, unknown), venue)
        except ExchangeError as error:
            log.warning("unit leg %s: %s refused: %s", bracket.id, order.client_order_id, error)
            refused = msgspec.structs.replace(order, state=OrderState.REJECTED)
            bracket = with_order(bracket, refused)
        else:
            bracket = with_order(bracket, reported(order, status))
            if bracket.order(order.client_order_id).is_open:  # not filled at once: stop it
                bracket = await self._cancel(bracket, order, venue)
        self._store.save_bracket(bracket, self._now())
        return bracket

    async def _cancel(self, bracket: Bracket, order: LegOrder, venue: Exchange) -> Bracket:
        placed = bracket.order(order.client_order_id)
        if placed.order_id is None:
            return bracket
        try:
            status = await venue.cancel_order(bracket.symbol, placed.order_id)
        except ExchangeError:
            status = await venue.fetch_order(bracket.symbol, placed.order_id)
        return with_order(bracket, reported(placed, status))

    async def _unwind(
        self,
        placed: list[tuple[PendingSignal, Bracket]],
        why: str,
        unplaced: Sequence[ReadyLeg],
    ) -> None:
        """Take back every filled leg, newest first, and fail the unit."""
        outcomes = []
        for pending, leg_bracket in reversed(placed):
            filled = _filled(leg_bracket)
            if filled <= 0:
                outcomes.append((pending, leg_bracket, f"{leg_name(pending)}: nothing filled"))
                continue
            outcomes.append((pending, *await self._take_back(pending, leg_bracket, filled)))
        summary = "; ".join(text for _, _, text in outcomes)
        for pending, bracket, _ in outcomes:
            if _filled(bracket) == bracket.exited:
                self._store.save_bracket(settled(bracket, BracketState.CLOSED, self._now()),
                                         self._now())  # fmt: skip
            else:
                await self._flatten_residual(pending, bracket)
            self._record(
                pending.id, "unit", f"unit failed: {why}; unwound: {summary}", SignalStatus.FAILED
            )
        for leg in unplaced:
            self._record(
                leg.pending.id, "unit", f"unit failed before this leg: {why}", SignalStatus.FAILED
            )

    async def _flatten_residual(self, pending: PendingSignal, bracket: Bracket) -> None:
        """What the unwind left is closed like any bracket being closed: at market now, and by
        the monitor on every round until flat (a residual is never left as it is)."""
        log.error("UNWIND LEFT %s %s on %s for %s: flattening it", bracket.position,
                  bracket.symbol, bracket.venue, pending.id)  # fmt: skip
        closing = msgspec.structs.replace(bracket, state=BracketState.UNPROTECTED, closing=True)
        self._store.save_bracket(closing, self._now())
        after = await self._ctx.driver.drive(closing, self._venues[bracket.venue])
        left = "flat" if after.state in FINAL else f"{after.position} left, the monitor keeps at it"
        self._record(pending.id, "unwind", f"{leg_name(pending)}: residual of {bracket.position}"
                     f" {bracket.symbol} on {bracket.venue} closed at market: {left}")  # fmt: skip

    async def _take_back(
        self, pending: PendingSignal, bracket: Bracket, filled: Decimal
    ) -> tuple[Bracket, str]:
        venue = self._venues[bracket.venue]
        back = bracket.side.opposite
        unwind = _market_order(bracket, Leg.EXIT, back, filled)
        bracket = await self._send(with_order(bracket, unwind), unwind, venue)
        done = bracket.order(unwind.client_order_id)
        text = (
            f"{leg_name(pending)}: {back} {done.filled} of {filled} {bracket.symbol} on "
            f"{bracket.venue} at {done.average_price} ({done.state})"
        )
        self._record(pending.id, "unwind", text, client_order_id=unwind.client_order_id)
        return bracket, text

    def _finish(
        self, placed: Sequence[tuple[PendingSignal, Bracket]], waiting: Sequence[PendingSignal]
    ) -> None:
        fills = "; ".join(
            f"{leg_name(p)} {b.side} {_filled(b)} {b.symbol} on {b.venue}"
            f" at {_entry(b).average_price}"
            for p, b in placed
        )
        for _, bracket in placed:
            if bracket.state not in FINAL:
                closed = settled(bracket, BracketState.CLOSED, self._now())
                self._store.save_bracket(closed, self._now())
        for pending in waiting:
            self._record(
                pending.id,
                "unit",
                f"unit executed, every leg filled: {fills}",
                SignalStatus.EXECUTED,
            )

    # --- resuming -----------------------------------------------------------------------------

    async def _resume(self, legs: list[PendingSignal], waiting: list[PendingSignal]) -> None:
        """A unit begun by a worker that died: learn what its orders did, then complete it if
        every leg filled, else unwind."""
        placed = []
        for pending in legs:
            bracket = self._store.bracket(pending.id) if pending.started else None
            if bracket is None:
                continue
            if bracket.state not in FINAL:
                venue = self._venues[bracket.venue]
                bracket = await self._ctx.driver.settle_unknowns(bracket, venue)
                self._store.save_bracket(bracket, self._now())
            placed.append((pending, bracket))
        link = waiting[0].signal.link
        assert link is not None
        complete = len(placed) == link.legs and all(
            _filled(b) >= _entry(b).amount and b.exited == 0 for _, b in placed
        )
        for pending in waiting:
            self._record(pending.id, "resumed", "resuming the unit after an interrupted run")
        if complete:
            return self._finish(placed, waiting)
        unwinding = [(p, b) for p, b in placed if b.state not in FINAL]
        await self._unwind(unwinding, "its run was interrupted before every leg filled", [])
        for pending in waiting:
            if all(pending.id != p.id for p, _ in unwinding):
                self._record(
                    pending.id, "unit", "unit failed: its run was interrupted", SignalStatus.FAILED
                )
        return None


def _market_order(bracket: Bracket, leg: Leg, side: Side, amount: Decimal) -> LegOrder:
    cid = client_order_id(bracket.id, leg, max_length=bracket.client_id_length,
                          lowercase=bracket.client_id_lowercase)  # fmt: skip
    return LegOrder(leg=leg, client_order_id=cid, side=side, kind=OrderKind.MARKET, amount=amount)


def _entry(bracket: Bracket) -> LegOrder:
    return next(o for o in bracket.orders if o.leg is Leg.ENTRY)


def _filled(bracket: Bracket) -> Decimal:
    return _entry(bracket).filled
