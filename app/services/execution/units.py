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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from app.domain.brackets.bracket import FINAL, Bracket, BracketState, LegOrder, reported, with_order
from app.domain.brackets.pnl import settled
from app.domain.execution_policy import ExecutionPolicy
from app.domain.orders import Leg, OrderKind, OrderState, Side, client_order_id
from app.domain.risk import Approved, check, check_before_sizing
from app.domain.risk_values import RiskLimits
from app.domain.routing import NoRoute, Route, choose_route
from app.domain.signals import PENDING, Action, QtyMode, Signal, SignalStatus
from app.domain.sizing import SizingPolicy, SizingRequest, Unsizable, size
from app.ports.errors import ExchangeError, OutcomeUnknown
from app.ports.exchange import Exchange
from app.ports.execution import (
    AccountState,
    ExecutionStore,
    KeyLocks,
    LineageStep,
    PendingSignal,
    lock_key,
)
from app.services.brackets.driver import BracketDriver
from app.services.execution.views import Denial, VenueView, risk_request, snapshot_of

log = logging.getLogger("signalgate.execution")

UNIT_WAIT = timedelta(seconds=5)  # how long the legs kept wait for the unit's missing ones
_BPS = Decimal(10_000)
_0 = Decimal(0)
_to_json = msgspec.to_builtins

Read = Callable[[str, str], Awaitable[tuple[AccountState, list[VenueView]]]]


class _Ready(msgspec.Struct, frozen=True):
    """A leg that passed every check: what to place, where."""

    pending: PendingSignal
    route: Route
    view: VenueView


class UnitExecutor:
    def __init__(
        self,
        *,
        store: ExecutionStore,
        venues: Mapping[str, Exchange],
        clock: Callable[[], datetime],
        locks: KeyLocks,
        limits: RiskLimits,
        sizing: SizingPolicy,
        policy: ExecutionPolicy,
        driver: BracketDriver,
        read: Read,
    ) -> None:
        self._store = store
        self._venues = venues
        self._now = clock
        self._locks = locks
        self._limits = limits
        self._sizing = sizing
        self._policy = policy
        self._driver = driver
        self._read = read

    async def run(self, unit_id: str) -> None:
        """Execute the unit if all its legs are kept; leave it be while some are on their way
        (younger than UNIT_WAIT), deny it once they are late."""
        keys = sorted(
            {lock_key(p.signal.account, p.signal.symbol) for p in self._store.unit(unit_id)}
        )
        async with AsyncExitStack() as held:
            for key in keys:
                await held.enter_async_context(self._locks.hold(key))
            with self._store.batch():  # what it keeps back is written before the locks are let go
                await self._run(self._store.unit(unit_id))  # read again under the locks

    def _record(
        self,
        pending: PendingSignal,
        step: str,
        detail: str,
        status: SignalStatus | None = None,
        **data: Any,
    ) -> None:
        self._store.record(LineageStep(pending.id, self._now(), step, detail, data or None),
                           status=status)  # fmt: skip

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
            return self._deny_all(waiting, [f"{_name(p)} is {p.status}" for p in refused])
        ready, reasons = await self._checked(legs)
        if reasons:
            return self._deny_all(waiting, reasons)
        await self._place(ready)
        return None

    def _deny_all(self, waiting: Sequence[PendingSignal], reasons: list[str]) -> None:
        detail = "unit denied, no leg placed: " + "; ".join(reasons)
        for pending in waiting:
            self._record(pending, "decision", detail, SignalStatus.DENIED)

    # --- checks -------------------------------------------------------------------------------

    async def _checked(self, legs: Sequence[PendingSignal]) -> tuple[list[_Ready], list[str]]:
        """Every leg through the risk gate on its own venue; the failures of every leg."""
        ready: list[_Ready] = []
        reasons: list[str] = []
        brought: dict[tuple[str, str], Decimal] = {}  # what earlier legs bring, by venue, asset
        for pending in legs:
            outcome = await self._check_leg(pending, brought)
            if isinstance(outcome, _Ready):
                ready.append(outcome)
                _bring(brought, outcome)
            else:
                reasons.extend(f"{_name(pending)}: {why}" for why in outcome)
        return ready, reasons

    async def _check_leg(
        self, pending: PendingSignal, brought: Mapping[tuple[str, str], Decimal]
    ) -> _Ready | list[str]:
        """One leg's checks, its venue's free balances counting what the unit's earlier legs
        bring there (a triangle's second leg spends what its first buys)."""
        signal = pending.signal
        side = Side.BUY if signal.action is Action.BUY else Side.SELL
        account, views = await self._read(signal.account, signal.symbol)
        view = next((v for v in views if v.quote.venue == signal.venue), None)
        market = view.quote.market if view is not None else None
        book = view.quote.book if view is not None else None
        if view is None or market is None or signal.quantity is None or signal.price is None:
            return [f"venue {signal.venue} does not list {signal.symbol}"]
        venue, quote = view.quote.venue, view.quote
        quote = msgspec.structs.replace(
            quote,
            free_quote=quote.free_quote + brought.get((venue, market.settle or market.quote), _0),
            free_base=quote.free_base + brought.get((venue, market.base), _0),
        )
        view = msgspec.structs.replace(view, quote=quote)
        price = (book.best_ask if side is Side.BUY else book.best_bid) if book else None
        now = self._now()
        snapshot = snapshot_of(signal.account, account, [view])
        denial = Denial(
            list(check_before_sizing(signal.symbol, side, False, snapshot, self._limits, now))
        )
        reference = max(price or signal.price, signal.price)
        amount = signal.quantity
        funding = (
            (venue, market.settle or market.quote) if side is Side.BUY else (venue, market.base)
        )
        if funding in brought:  # spends what an earlier leg brings: no more than that
            affordable = (
                quote.free_quote / (reference * (1 + market.taker_fee))
                if side is Side.BUY
                else quote.free_base
            )
            amount = min(amount, affordable)
        sized = size(
            SizingRequest(QtyMode.BASE, amount, reference, None, snapshot.equity),
            market,
            self._sizing,
        )
        if isinstance(sized, Unsizable):
            denial.add("sizing", sized.reason)
            return denial.reasons
        route = choose_route(
            signal.symbol,
            side,
            sized.amount,
            [view.quote],
            slippage_bps=self._policy.slippage_bps,
            venue_hint=signal.venue,
        )
        if isinstance(route, NoRoute):
            return [*denial.reasons, route.reason]
        if moved := _moved(signal, side, route, self._policy.slippage_bps):
            denial.add("opportunity", moved)
        decision = check(
            risk_request(signal, side, route, [view], None, signal.price),
            snapshot,
            self._limits,
            now,
        )
        checks = [*decision.checks, *denial.failed_extra]
        if not isinstance(decision, Approved) or denial.failed_extra:
            return [c.detail for c in checks if not c.passed]
        self._record(
            pending, "decision", "leg approved: every check passed", checks=_to_json(checks)
        )
        return _Ready(pending, route, view)

    # --- placing and unwinding ----------------------------------------------------------------

    async def _place(self, ready: Sequence[_Ready]) -> None:
        placed: list[tuple[PendingSignal, Bracket]] = []
        for number, leg in enumerate(ready):
            bracket = await self._send_entry(leg)
            placed.append((leg.pending, bracket))
            if _filled(bracket) < leg.route.chosen.amount:
                why = f"{_name(leg.pending)} was not filled ({_entry(bracket).state})"
                return await self._unwind(placed, why, ready[number + 1 :])
        self._finish(placed, [leg.pending for leg in ready])
        return None

    async def _send_entry(self, leg: _Ready) -> Bracket:
        signal, candidate = leg.pending.signal, leg.route.chosen
        venue = self._venues[candidate.venue]
        market = leg.view.quote.market
        assert market is not None
        side = Side.BUY if signal.action is Action.BUY else Side.SELL
        bracket = Bracket(
            id=leg.pending.id,
            account=signal.account,
            venue=candidate.venue,
            symbol=signal.symbol,
            side=side,
            market=market,
            opened_at=self._now(),
            client_id_length=venue.capabilities.client_order_id_max_length,
            note="arbitrage leg",
        )
        entry = _market_order(bracket, Leg.ENTRY, side, candidate.amount)
        bracket = await self._send(with_order(bracket, entry), entry, venue)
        self._record(
            leg.pending,
            "order",
            f"{_name(leg.pending)}: market {side} {entry.amount}"
            f" {signal.symbol} on {candidate.venue}: {_entry(bracket).state}",
            client_order_id=entry.client_order_id,
            average_price=str(_entry(bracket).average_price),
        )
        return bracket

    async def _send(self, bracket: Bracket, order: LegOrder, venue: Exchange) -> Bracket:
        """Save, send, and save what the venue said (looked up by client order id when it did
        not answer)."""
        try:
            status = await self._driver.create(bracket, order, venue)
        except OutcomeUnknown:
            unknown = msgspec.structs.replace(order, state=OrderState.UNKNOWN)
            bracket = await self._driver.settle_unknowns(
                with_order(bracket, unknown), venue, resend=False
            )
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
        unplaced: Sequence[_Ready],
    ) -> None:
        """Take back every filled leg, newest first, and fail the unit."""
        outcomes = []
        for pending, leg_bracket in reversed(placed):
            filled = _filled(leg_bracket)
            if filled <= 0:
                outcomes.append((pending, leg_bracket, f"{_name(pending)}: nothing filled"))
                continue
            outcomes.append((pending, *await self._take_back(pending, leg_bracket, filled)))
        summary = "; ".join(text for _, _, text in outcomes)
        for pending, bracket, _ in outcomes:
            flat = _filled(bracket) == bracket.exited
            state = BracketState.CLOSED if flat else BracketState.UNPROTECTED
            if not flat:
                log.error(
                    "UNWIND FAILED for %s: %s %s left on %s",
                    pending.id,
                    bracket.position,
                    bracket.symbol,
                    bracket.venue,
                )
            self._store.save_bracket(settled(bracket, state, self._now()), self._now())
            self._record(
                pending, "unit", f"unit failed: {why}; unwound: {summary}", SignalStatus.FAILED
            )
        for leg in unplaced:
            self._record(
                leg.pending, "unit", f"unit failed before this leg: {why}", SignalStatus.FAILED
            )

    async def _take_back(
        self, pending: PendingSignal, bracket: Bracket, filled: Decimal
    ) -> tuple[Bracket, str]:
        venue = self._venues[bracket.venue]
        back = bracket.side.opposite
        unwind = _market_order(bracket, Leg.EXIT, back, filled)
        bracket = await self._send(with_order(bracket, unwind), unwind, venue)
        done = bracket.order(unwind.client_order_id)
        text = (
            f"{_name(pending)}: {back} {done.filled} of {filled} {bracket.symbol} on "
            f"{bracket.venue} at {done.average_price} ({done.state})"
        )
        self._record(pending, "unwind", text, client_order_id=unwind.client_order_id)
        return bracket, text

    def _finish(
        self, placed: Sequence[tuple[PendingSignal, Bracket]], waiting: Sequence[PendingSignal]
    ) -> None:
        fills = "; ".join(
            f"{_name(p)} {b.side} {_filled(b)} {b.symbol} on {b.venue} at {_entry(b).average_price}"
            for p, b in placed
        )
        for _, bracket in placed:
            if bracket.state not in FINAL:
                closed = settled(bracket, BracketState.CLOSED, self._now())
                self._store.save_bracket(closed, self._now())
        for pending in waiting:
            self._record(
                pending, "unit", f"unit executed, every leg filled: {fills}", SignalStatus.EXECUTED
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
                bracket = await self._driver.settle_unknowns(bracket, venue, resend=False)
                self._store.save_bracket(bracket, self._now())
            placed.append((pending, bracket))
        link = waiting[0].signal.link
        assert link is not None
        complete = len(placed) == link.legs and all(
            _filled(b) >= _entry(b).amount and b.exited == 0 for _, b in placed
        )
        for pending in waiting:
            self._record(pending, "resumed", "resuming the unit after an interrupted run")
        if complete:
            return self._finish(placed, waiting)
        unwinding = [(p, b) for p, b in placed if b.state not in FINAL]
        await self._unwind(unwinding, "its run was interrupted before every leg filled", [])
        for pending in waiting:
            if all(pending.id != p.id for p, _ in unwinding):
                self._record(
                    pending, "unit", "unit failed: its run was interrupted", SignalStatus.FAILED
                )
        return None


def _bring(brought: dict[tuple[str, str], Decimal], leg: _Ready) -> None:
    """What an approved leg adds to and takes from its venue's balances, fees counted against
    the unit (a buy receives its amount less the fee, a sell pays its amount)."""
    chosen, market = leg.route.chosen, leg.view.quote.market
    assert market is not None
    base, settle = (chosen.venue, market.base), (chosen.venue, market.settle or market.quote)
    value = chosen.amount * chosen.average_price
    if leg.pending.signal.action is Action.BUY:
        brought[base] = brought.get(base, _0) + chosen.amount * (1 - chosen.fee_rate)
        brought[settle] = brought.get(settle, _0) - value * (1 + chosen.fee_rate)
    else:
        brought[base] = brought.get(base, _0) - chosen.amount
        brought[settle] = brought.get(settle, _0) + value * (1 - chosen.fee_rate)


def _name(pending: PendingSignal) -> str:
    signal = pending.signal
    number = signal.link.leg + 1 if signal.link is not None else 1
    return f"leg {number} ({signal.action} {signal.symbol} on {signal.venue})"


def _market_order(bracket: Bracket, leg: Leg, side: Side, amount: Decimal) -> LegOrder:
    cid = client_order_id(bracket.id, leg, max_length=bracket.client_id_length)
    return LegOrder(leg=leg, client_order_id=cid, side=side, kind=OrderKind.MARKET, amount=amount)


def _entry(bracket: Bracket) -> LegOrder:
    return next(o for o in bracket.orders if o.leg is Leg.ENTRY)


def _filled(bracket: Bracket) -> Decimal:
    return _entry(bracket).filled


def _moved(signal: Signal, side: Side, route: Route, slippage_bps: Decimal) -> str | None:
    """Why the leg's price now is past the budget from the price the opportunity was found at."""
    found, now = signal.price, route.chosen.average_price
    assert found is not None
    allowed = found * slippage_bps / _BPS
    worse = now - found if side is Side.BUY else found - now
    if worse <= allowed:
        return None
    return (
        f"the price moved from {found} to {now}, past the {slippage_bps} bps slippage budget:"
        " the opportunity is gone"
    )
