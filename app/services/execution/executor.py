"""Execution: a queued signal becomes a bracket on the best venue, or a denial with its reasons.

`Executor.execute(signal_id)` is the worker's job. It takes the account-and-symbol lock and runs
every queued signal of that key up to this one, oldest first, so signals execute in arrival
order however many workers run (a reversal never races its own entry), and a job that finds its
signal done returns at once (jobs may run twice). Each signal: the account snapshot, the risk
gate, sizing, routing, then the entry and its legs, every step on the signal's lineage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from app.domain.brackets.bracket import Bracket, BracketState, LegOrder, reported, with_order
from app.domain.execution_policy import EntryPolicy, ExecutionPolicy
from app.domain.market import Market, MarketKind
from app.domain.orders import Leg, OrderKind, OrderState, Side, client_order_id
from app.domain.risk import Approved, check, check_before_sizing
from app.domain.risk_values import CheckResult, RiskLimits, TradingState
from app.domain.routing import NoRoute, Route, VenueQuote, choose_route
from app.domain.signals import PENDING, Action, OrderType, PositionSide, Signal, SignalStatus
from app.domain.sizing import SizingPolicy, SizingRequest, Unsizable, size
from app.domain.targets import Targets, bracket_targets
from app.ports.errors import ExchangeError, Fatal, OutcomeUnknown, Retryable
from app.ports.exchange import Exchange
from app.ports.execution import (
    AccountState,
    ExecutionStore,
    Holding,
    KeyLocks,
    LineageStep,
    PendingSignal,
    lock_key,
)
from app.services.brackets.driver import BracketDriver
from app.services.execution.units import UnitExecutor
from app.services.execution.views import Denial, VenueView, risk_request, route_detail, snapshot_of

log = logging.getLogger("signalgate.execution")
_ZERO = Decimal(0)
_to_json = msgspec.to_builtins


class SignalMissing(Exception):
    """The job's signal is not in the database (yet): the job is retried."""


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
    ) -> None:
        """`in_process`: every venue answers in this process (a backtest), so reads are made
        one after the other, without tasks to overlap their round trips."""
        self._in_process = in_process
        self._store = store
        self._venues = venues
        self._modes = modes
        self._now = clock
        self._locks = locks
        self._limits = limits
        self._sizing = sizing
        self._policy = policy or ExecutionPolicy()
        self.driver = BracketDriver(store, clock, close_unprotected=self._policy.close_unprotected)
        self._units = UnitExecutor(
            store=store,
            venues=venues,
            clock=clock,
            locks=locks,
            limits=limits,
            sizing=sizing,
            policy=self._policy,
            driver=self.driver,
            read=self.account_and_quotes,
        )

    async def execute(self, signal_id: str) -> SignalStatus:
        """Run the signal (and any older queued one of its account and symbol).

        Raises:
            SignalMissing: no such signal yet.
            Busy: another worker holds the key too long; retry later.
            Unavailable: the database went away; retry later.
        """
        return (await self.execute_many([signal_id]))[signal_id]

    async def execute_many(self, signal_ids: Sequence[str]) -> dict[str, SignalStatus]:
        """Run a batch: each account-and-symbol key in arrival order under its lock, the keys
        side by side (their venue round trips overlap). Same errors as `execute`."""
        found = self._store.states(signal_ids)
        if missing := [i for i in signal_ids if i not in found]:
            raise SignalMissing(f"signals {', '.join(missing)} are not in the database")
        newest: dict[tuple[str, str], str] = {}
        for state in found.values():
            if state.status in PENDING:
                key = (state.account, state.symbol)
                newest[key] = max(newest.get(key, state.id), state.id)
        units: set[str] = set()  # linked signals run as units, after the keys
        runs = [self._run_key(a, s, up_to, units) for (a, s), up_to in newest.items()]
        await (runs[0] if len(runs) == 1 else asyncio.gather(*runs))
        for unit in sorted(units):
            await self._units.run(unit)
        done = self._store.states(signal_ids) if newest else found
        if units and (waiting := [i for i in signal_ids if done[i].status in PENDING]):
            raise SignalMissing(
                f"signals {', '.join(waiting)} are legs of units still waiting for other legs"
            )
        return {signal_id: done[signal_id].status for signal_id in signal_ids}

    async def _run_key(self, account: str, symbol: str, up_to: str, units: set[str]) -> None:
        async with self._locks.hold(lock_key(account, symbol)):
            with self._store.batch():  # what it keeps back is written before the lock is let go
                for pending in self._store.pending(account, symbol, up_to):
                    if pending.signal.link is not None:
                        units.add(pending.signal.link.unit)
                    else:
                        await self._one(pending)

    def _record(
        self,
        signal_id: str,
        step: str,
        detail: str,
        status: SignalStatus | None = None,
        **data: Any,
    ) -> None:
        self._store.record(LineageStep(signal_id, self._now(), step, detail, data or None),
                           status=status)  # fmt: skip

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
            case Action.BUY:
                await self._entry_signal(pending, Side.BUY)
            case Action.SELL:
                await self._entry_signal(pending, Side.SELL)

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
        signal = pending.signal
        if self._store.trading_state() is TradingState.HALTED:
            self._record(pending.id, "decision", "trading is halted: nothing is placed",
                         SignalStatus.DENIED)  # fmt: skip
            return
        side = _side_of(signal.position_side)
        closed = await self._close_all(pending, side)
        if not closed:
            self._record(pending.id, "close", f"no open {signal.symbol} position to close",
                         SignalStatus.EXECUTED)  # fmt: skip
            return
        left = [b.id for b in closed if b.state is not BracketState.CLOSED]
        status = SignalStatus.EXECUTED if not left else SignalStatus.FAILED
        detail = f"closed {len(closed) - len(left)} of {len(closed)} {signal.symbol} brackets"
        if left:
            detail += f"; still open: {', '.join(left)} (the monitor keeps trying)"
        self._record(pending.id, "close", detail, status, brackets=[b.id for b in closed])

    async def _reverse(self, pending: PendingSignal) -> None:
        signal = pending.signal
        open_brackets = self._store.open_brackets(signal.account, signal.symbol)
        if open_brackets:
            new_side = open_brackets[0].side.opposite
        elif (side := _side_of(signal.position_side)) is not None:
            new_side = side
        else:
            self._record(pending.id, "decision", f"no open {signal.symbol} position to reverse"
                         " and the alert names no side", SignalStatus.DENIED)  # fmt: skip
            return
        if not await self._flatten_first(pending, new_side.opposite):
            return
        await self._entry_signal(pending, new_side, checked_policy=True)

    async def _flatten_first(self, pending: PendingSignal, side: Side) -> bool:
        closed = await self._close_all(pending, side)
        left = [b.id for b in closed if b.state is not BracketState.CLOSED]
        if left:
            self._record(pending.id, "close", f"could not flatten {', '.join(left)}: not opening"
                         " the other side", SignalStatus.FAILED)  # fmt: skip
            return False
        return True

    # --- entries ----------------------------------------------------------------------------

    async def _entry_signal(
        self, pending: PendingSignal, side: Side, *, checked_policy: bool = False
    ) -> None:
        signal = pending.signal
        account, views = await self.account_and_quotes(signal.account, signal.symbol)
        if not checked_policy:
            verdict = self._entry_policy(signal.symbol, side, account.holdings)
            if isinstance(verdict, str):
                check_result = _to_json(CheckResult("entry_policy", False, verdict))
                self._record(
                    pending.id, "decision", verdict, SignalStatus.DENIED, checks=[check_result]
                )
                return None
            if verdict:
                if not await self._flatten_first(pending, side.opposite):
                    return None
                account, views = await self.account_and_quotes(signal.account, signal.symbol)
        now = self._now()
        snapshot = snapshot_of(signal.account, account, views)
        early = check_before_sizing(signal.symbol, side, False, snapshot, self._limits, now)
        denial = Denial(list(early))
        reference = _reference_price(signal, side, views)
        market = _sizing_market(views, self._hint(signal.venue))
        if reference is None or market is None:
            denial.add("market_price", f"no venue has a price for {signal.symbol}")
            return self._deny(pending, denial)
        targets = _targets(signal, side, reference, market, denial)
        sized = size(
            SizingRequest(
                mode=signal.qty_mode if signal.quantity is not None else self._sizing.default_mode,
                quantity=signal.quantity,
                entry_price=reference,
                stop_price=targets.stop_loss if targets else None,
                equity=snapshot.equity,
            ),
            market,
            self._sizing,
        )
        if isinstance(sized, Unsizable):
            denial.add("sizing", sized.reason)
            return self._deny(pending, denial)
        route = choose_route(
            signal.symbol,
            side,
            sized.amount,
            [view.quote for view in views],
            slippage_bps=self._policy.slippage_bps,
            venue_hint=self._hint(signal.venue),
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
        decision = check(
            risk_request(signal, side, route, views, targets, reference), snapshot,
            self._limits, now,
        )  # fmt: skip
        if not isinstance(decision, Approved) or targets is None:
            denial.checks = [*decision.checks, *denial.failed_extra]
            return self._deny(pending, denial)
        self._record(pending.id, "decision", "approved: every check passed",
                     checks=_to_json(decision.checks))  # fmt: skip
        await self._open(pending, side, route, views, targets)
        return None

    def _hint(self, venue: str | None) -> str | None:
        """The alert's venue when one is configured under that name; a TradingView prefix like
        BINANCE: names the chart's exchange, which may not be a venue of this deployment."""
        return venue if venue in self._venues else None

    def _entry_policy(self, symbol: str, side: Side, holdings: Sequence[Holding]) -> str | bool:
        """A denial sentence, True to flatten the opposite side first, or False to go ahead."""
        held = [h for h in holdings if h.symbol == symbol]
        if not held:
            return False
        policy = self._policy.entry_policy
        same = any(h.side is side for h in held)
        if policy is EntryPolicy.IGNORE or (same and policy is EntryPolicy.REVERSE):
            what = "long" if held[0].side is Side.BUY else "short"
            return (
                f"a {what} {symbol} position is open and ENTRY_POLICY={policy};"
                " set ENTRY_POLICY=add to add to it or close it first"
            )
        return not same

    def _deny(self, pending: PendingSignal, denial: Denial) -> None:
        reasons = denial.reasons
        self._record(pending.id, "decision", "denied: " + "; ".join(reasons), SignalStatus.DENIED,
                     checks=_to_json(denial.checks))  # fmt: skip

    async def _open(
        self,
        pending: PendingSignal,
        side: Side,
        route: Route,
        views: Sequence[VenueView],
        targets: Targets,
    ) -> None:
        signal = pending.signal
        markets = {v.quote.venue: v.quote.market for v in views}
        candidates = [route.chosen, *route.alternatives]
        for number, candidate in enumerate(candidates):
            venue = self._venues[candidate.venue]
            market = markets[candidate.venue]
            assert market is not None
            bracket = Bracket(
                id=pending.id,
                account=signal.account,
                venue=candidate.venue,
                symbol=signal.symbol,
                side=side,
                market=market,
                opened_at=self._now(),
                take_profits=targets.take_profits,
                stop_loss=targets.stop_loss,
                trailing_percent=targets.trailing_percent,
                resting_legs=venue.capabilities.reduce_only and market.kind is MarketKind.SWAP,
                client_id_length=venue.capabilities.client_order_id_max_length,
            )
            entry = _entry_order(signal.order_type, bracket, candidate.amount, signal)
            bracket = with_order(bracket, entry)
            try:
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
            bracket = _retarget(bracket, signal, side, targets)
            self._store.save_bracket(bracket, self._now())
            self._record(pending.id, "order", f"entry {entry.kind} {side} {entry.amount}"
                         f" {signal.symbol} on {candidate.venue}: {status.state}",
                         client_order_id=entry.client_order_id, order_id=status.order_id,
                         average_price=str(status.average_price))  # fmt: skip
            book = next(v.quote.book for v in views if v.quote.venue == candidate.venue)
            bracket = await self.driver.drive(bracket, venue, book=book)
            self._record(pending.id, "bracket", f"bracket {bracket.state} on {candidate.venue}",
                         SignalStatus.EXECUTED, state=str(bracket.state))  # fmt: skip
            return
        self._record(pending.id, "order", "every venue refused the entry", SignalStatus.FAILED)

    # --- reading the venues -------------------------------------------------------------------

    async def _quotes(self, symbol: str) -> list[VenueView]:
        if self._in_process:
            return [await self._quote(n, v, symbol) for n, v in self._venues.items()]
        return list(
            await asyncio.gather(*(self._quote(n, v, symbol) for n, v in self._venues.items()))
        )

    async def _quote(self, name: str, venue: Exchange, symbol: str) -> VenueView:
        healthy = str(getattr(venue, "circuit_state", "closed")) == "closed"
        market: Market | None = None
        book = None
        free_quote = free_base = total = _ZERO
        try:
            market = (await venue.markets()).get(symbol)
            if market is not None and healthy:
                depth = self._policy.book_depth
                if self._in_process:
                    book, balances = await venue.order_book(symbol, depth), await venue.balances()
                else:
                    book, balances = await asyncio.gather(
                        venue.order_book(symbol, depth), venue.balances()
                    )
                quote_asset = market.settle or market.quote
                if (q := balances.get(quote_asset)) is not None:
                    free_quote, total = q.free, q.total
                if (b := balances.get(market.base)) is not None:
                    free_base = b.free
        except ExchangeError as error:
            log.info("venue %s unreadable for %s: %s", name, symbol, error)
            healthy = False
        quote = VenueQuote(
            venue=name,
            mode=self._modes.get(name, "paper"),
            market=market,
            book=book,
            healthy=healthy,
            free_quote=free_quote,
            free_base=free_base,
        )
        return VenueView(quote, total)

    async def account_and_quotes(
        self, account: str, symbol: str
    ) -> tuple[AccountState, list[VenueView]]:
        """The account from the database while the venues answer: the venue requests go out
        first, the database is read while they are on their way."""
        if self._in_process:
            views = await self._quotes(symbol)
            return self._store.account_state(account, symbol, self._now()), views
        quoting = asyncio.ensure_future(self._quotes(symbol))
        for _ in range(3):  # the quote task and the request tasks it starts reach their sends
            await asyncio.sleep(0)
        try:
            state = self._store.account_state(account, symbol, self._now())
        except BaseException:
            quoting.cancel()
            with contextlib.suppress(asyncio.CancelledError, ExchangeError):
                await quoting
            raise
        return state, await quoting


# --- pure helpers -----------------------------------------------------------------------------


def _side_of(position_side: PositionSide | None) -> Side | None:
    if position_side is None:
        return None
    return Side.BUY if position_side is PositionSide.LONG else Side.SELL


def _reference_price(signal: Signal, side: Side, views: Sequence[VenueView]) -> Decimal | None:
    if signal.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and signal.limit_price:
        return signal.limit_price
    books = [v.quote.book for v in views if v.quote.book is not None and v.quote.healthy]
    prices = [b.best_ask if side is Side.BUY else b.best_bid for b in books]
    known = [p for p in prices if p is not None]
    if known:
        return min(known) if side is Side.BUY else max(known)
    return signal.price


def _sizing_market(views: Sequence[VenueView], hint: str | None) -> Market | None:
    listed = [v.quote for v in views if v.quote.market is not None]
    for quote in listed:
        if quote.venue == hint:
            return quote.market
    return listed[0].market if listed else None


def _targets(
    signal: Signal, side: Side, entry: Decimal, market: Market, denial: Denial
) -> Targets | None:
    try:
        return bracket_targets(signal, side, entry, market)
    except ValueError as error:
        denial.add("tp_sl_sanity", str(error))
        return None


def _retarget(bracket: Bracket, signal: Signal, side: Side, targets: Targets) -> Bracket:
    """Targets given in percent are measured from the actual fill, once there is one."""
    entry = bracket.entry_price
    if entry is None:
        return bracket
    try:
        actual = bracket_targets(signal, side, entry, bracket.market)
    except ValueError:
        actual = targets
    return msgspec.structs.replace(
        bracket,
        take_profits=actual.take_profits,
        stop_loss=actual.stop_loss,
        trailing_percent=actual.trailing_percent,
    )


def _entry_order(
    order_type: OrderType, bracket: Bracket, amount: Decimal, signal: Signal
) -> LegOrder:
    kind, price, trigger = OrderKind.MARKET, None, None
    if order_type is OrderType.LIMIT and signal.limit_price:
        kind, price = OrderKind.LIMIT, signal.limit_price
    elif order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and signal.stop_price:
        kind, trigger = OrderKind.STOP_MARKET, signal.stop_price
    return LegOrder(
        leg=Leg.ENTRY,
        client_order_id=client_order_id(bracket.id, Leg.ENTRY, max_length=bracket.client_id_length),
        side=bracket.side,
        kind=kind,
        amount=amount,
        price=price,
        trigger_price=trigger,
    )
