"""Drives one bracket on its venue: settles unknown orders, applies `plan()` until nothing is left
to do, and records every order before it is sent (so a crash leaves a client order id to look up,
never an order nobody knows about).

Used by the worker right after an entry and by the bracket monitor on its schedule; the caller
holds the account-and-symbol lock, so the two never drive the same bracket at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime

import msgspec

from app.domain.brackets import notices
from app.domain.brackets.bracket import (
    FINAL,
    Bracket,
    BracketState,
    LegOrder,
    reported,
    request_of,
    still_covered,
    with_order,
)
from app.domain.brackets.planner import Action, Cancel, Place, Settle, plan, trailed
from app.domain.brackets.pnl import settled
from app.domain.execution_policy import ExecutionPolicy
from app.domain.market import OrderBook
from app.domain.orders import IllegalTransition, Leg, OrderState, OrderStatus
from app.domain.targets import TrailingRules
from app.ports.errors import ExchangeError, Fatal, OrderNotFound, OutcomeUnknown, Retryable
from app.ports.exchange import Exchange
from app.ports.execution import ExecutionStore, LineageStep
from app.ports.notifications import NoNotifier, Notifier
from app.services.brackets.doubt import doubt_detail
from app.services.brackets.exits import exit_price, exit_side, watched
from app.services.brackets.misses import Misses, refuse_lapsed
from app.services.brackets.quiet import QuietBrackets

log = logging.getLogger("signalgate.brackets")

MAX_STEPS = 12  # plan/apply rounds per drive; a healthy bracket needs two or three


@dataclass(eq=False)
class BracketDriver:
    store: ExecutionStore
    clock: Callable[[], datetime]
    _: KW_ONLY
    close_unprotected: bool = True  # the policy for a bracket whose protective leg failed
    trailing: TrailingRules = field(default_factory=TrailingRules)  # how trailing stops move
    # orders whose doubt is on the lineage already (by this process): one step, not one a round
    _doubted: set[str] = field(default_factory=set, init=False)
    # the first miss this process saw of each unconfirmed order, on venues whose requests expire
    misses: Misses = field(default_factory=Misses)
    notifier: Notifier = field(default_factory=NoNotifier)  # closes and incidents, told
    # creates and cancels this driver has sent (or is sending): what was read of a venue before
    # the count moved may be stale (`ExecutionContext.quote_early`)
    sent: int = field(default=0, init=False)

    @classmethod
    def for_policy(
        cls,
        store: ExecutionStore,
        clock: Callable[[], datetime],
        policy: ExecutionPolicy,
        notifier: Notifier | None = None,
    ) -> BracketDriver:
        """A driver that follows the execution policy's choices."""
        return cls(store, clock, close_unprotected=policy.close_unprotected,
                   trailing=policy.trailing, notifier=notifier or NoNotifier())  # fmt: skip

    def _save(self, bracket: Bracket) -> Bracket:
        self.store.save_bracket(bracket, self.clock())
        return bracket

    def incident(self, bracket: Bracket, step: str, detail: str) -> None:
        """A step on the bracket's lineage for what an operator must look at."""
        self._lineage(bracket, step, detail)

    def _lineage(self, bracket: Bracket, step: str, detail: str, **data: object) -> None:
        self.store.record(LineageStep(bracket.id, self.clock(), step, detail, data or None))

    async def create(self, bracket: Bracket, order: LegOrder, venue: Exchange) -> OrderStatus:
        """Save `bracket`, which holds `order`, and send the order once the save and everything
        else kept back are written: every order is on record before it exists.

        Only the adapter ever sends an order again (its lost-create protocol, after the venue's
        request expiry and two confirmed misses); nothing above it does.

        Raises:
            ExchangeError: as `Exchange.create_order`; after `OutcomeUnknown` the order may
                exist: it stays `unknown` (in doubt) until it is looked up or resolved.
            StaleBracket: a newer holder of the lock saved the bracket, or the lease of the
                lock may have lapsed (`LeaseLapsed`); nothing was sent.
        """
        self._on_record(bracket)
        return await venue.create_order(request_of(bracket, order))

    def _on_record(self, bracket: Bracket) -> None:
        """Save `bracket` and write everything kept back, right before a request goes to the
        venue, so that the venue never acts on an order the book does not hold as it is sent:
        leaving a batch writes what every open batch keeps back. Under a lock, the save is a
        compare-and-swap, and a refused one raises `StaleBracket` here: nothing is sent. So does
        a lease of the lock that may have lapsed by now, the save done (`LeaseLapsed`)."""
        self.sent += 1
        with self.store.batch():
            self._save(bracket)
        refuse_lapsed(bracket)

    async def drive(
        self, bracket: Bracket, venue: Exchange, *, book: OrderBook | None = None
    ) -> Bracket:
        """Bring the bracket's orders in line with its position; return it as saved.

        `book`: the venue's book as just read (the executor's quote), so that the exit price
        is not asked for again; read from the venue when not given."""
        return (await self.drive_settled(bracket, venue, book=book))[0]

    async def drive_settled(
        self, bracket: Bracket, venue: Exchange, *, book: OrderBook | None = None
    ) -> tuple[Bracket, bool]:
        """`drive`, and whether the bracket is settled: False when it still had work after
        `MAX_STEPS` rounds (its actions keep failing)."""
        price = exit_side(bracket, book) if book is not None and watched(bracket) else None
        for _ in range(MAX_STEPS):
            if bracket.state in FINAL:
                return bracket, True
            bracket = await self.settle_unknowns(bracket, venue)
            price = price or await exit_price(bracket, venue)
            if (moved := trailed(bracket, price, self.clock(), self.trailing)) is not bracket:
                bracket = self._save(moved)
            actions = plan(bracket, price)
            if not actions:
                return self._mark_open(bracket), True
            for action in actions:
                bracket, replan = await self._apply(bracket, venue, action)
                if replan:
                    break
        log.warning("bracket %s still has work after %d rounds", bracket.id, MAX_STEPS)
        return bracket, False

    async def statuses(
        self, bracket: Bracket, venue: Exchange
    ) -> list[tuple[LegOrder, OrderStatus]]:
        """Every open order of the bracket as the venue reports it now (unread ones left out)."""
        found = []
        for order in bracket.orders:
            if not order.is_open or order.order_id is None:
                continue
            status: OrderStatus | None
            try:
                status = await venue.fetch_order(bracket.symbol, order.order_id)
            except OrderNotFound:
                status = await venue.fetch_order_by_client_id(bracket.symbol, order.client_order_id)
            except Retryable as error:
                log.info("bracket %s: %s unread (%s)", bracket.id, order.client_order_id, error)
                continue
            if status is not None:
                found.append((order, status))
        return found

    def refresh(self, bracket: Bracket, statuses: list[tuple[LegOrder, OrderStatus]]) -> Bracket:
        """The bracket with what the venue said of its open orders (`statuses`), saved when
        that changed it."""
        changed = bracket
        for order, status in statuses:
            changed = self._reported(changed, changed.order(order.client_order_id), status)
        return self._save(changed) if changed is not bracket else bracket

    async def needs_work(
        self,
        bracket: Bracket,
        statuses: list[tuple[LegOrder, OrderStatus]],
        venue: Exchange,
        quiet: QuietBrackets | None = None,
    ) -> bool:
        """Whether the venue moved since the bracket was saved, or its plan has something to do
        (a target reached, a trailing stop to move, an unknown order to look up). `quiet`: the
        brackets found with nothing to do, consulted and kept up to date."""
        if any(o.state is not s.state or o.filled != s.filled for o, s in statuses) or any(
            o.state in (OrderState.SUBMITTED, OrderState.UNKNOWN) for o in bracket.orders
        ):
            return True
        price = await exit_price(bracket, venue)
        if quiet is not None and quiet.still(bracket, price):
            return False
        if trailed(bracket, price, self.clock(), self.trailing) is not bracket or plan(
            bracket, price
        ):
            return True
        if quiet is not None:
            quiet.saw(bracket, price)
        return False

    def _reported(self, bracket: Bracket, order: LegOrder, status: OrderStatus) -> Bracket:
        try:
            updated = reported(order, status)
        except IllegalTransition as error:
            reason = f"{status.state} for {order.client_order_id}: {error}"
            log.error("bracket %s: the venue reported %s", bracket.id, reason)  # noqa: TRY400
            return bracket
        if updated == order:
            return bracket
        if updated.filled != order.filled:
            self._lineage(
                bracket,
                "fill",
                f"{order.leg} {order.side} {updated.filled} of {order.amount} {bracket.symbol}"
                f" at {updated.average_price} ({updated.state})",
                client_order_id=order.client_order_id,
                filled=str(updated.filled),
                average_price=str(updated.average_price),
            )
        return with_order(bracket, updated)

    async def settle_unknowns(self, bracket: Bracket, venue: Exchange) -> Bracket:
        """Look up every order whose outcome we do not know by its client order id.

        One the venue does not know is never sent again here: its request may still be
        executed (a venue without a request expiry, or one still inside it), and a venue takes a
        reused client order id once the first order is filled, so a copy could enter twice. An
        order the venue never confirmed stays `unknown` and its bracket is in doubt (`doubt`):
        no new entry on its account and symbol until a later lookup finds it or an operator
        settles it (`signalgate orders resolve`). On a venue whose requests expire, a second
        miss at least the expiry after the first this process saw settles it as gone
        (`app.services.brackets.misses` says why that is safe). One the venue had confirmed (it
        has a venue id) and no longer knows is counted as expired."""
        for order in bracket.orders:
            if order.state not in (OrderState.SUBMITTED, OrderState.UNKNOWN):
                continue
            try:
                found = await venue.fetch_order_by_client_id(bracket.symbol, order.client_order_id)
            except ExchangeError as error:
                log.warning("bracket %s: %s still unknown (%s)", bracket.id,
                            order.client_order_id, error)  # fmt: skip
                continue
            if found is None and order.order_id is None:
                bracket = self._missed(bracket, order, venue)
            elif found is None:  # had and forgotten: nothing rests there
                gone = msgspec.structs.replace(order, state=OrderState.EXPIRED)
                bracket = self._save(with_order(bracket, gone))
            else:
                self.misses.forget(order.client_order_id)
                bracket = self._save(self._reported(bracket, order, found))
        return bracket

    def _missed(self, bracket: Bracket, order: LegOrder, venue: Exchange) -> Bracket:
        """`order`, never confirmed, is not on the venue: gone once its requests expired."""
        expiry = venue.request_expiry_seconds
        if expiry is None:
            return self._in_doubt(bracket, order, venue)
        span = self.misses.missed(order.client_order_id)
        if span < expiry:
            log.warning("bracket %s: %s %s is not on %s; settled as gone if still missing"
                        " %.1f s from now", bracket.id, order.leg, order.client_order_id,
                        venue.name, expiry - span)  # fmt: skip
            if order.state is OrderState.UNKNOWN:
                return bracket
            unknown = msgspec.structs.replace(order, state=OrderState.UNKNOWN)
            return self._save(with_order(bracket, unknown))
        by = (f"its request expiry: {venue.name} had no such order in two lookups {span:.1f} s"
              f" apart, and it executes no request {expiry:g} s after it was sent")  # fmt: skip
        return self.settle_doubt(bracket, order, None, by)

    def _in_doubt(self, bracket: Bracket, order: LegOrder, venue: Exchange) -> Bracket:
        """Keep `order` unknown; say so at ERROR every time, on the lineage once per process."""
        cid = order.client_order_id
        log.error("bracket %s IN DOUBT: %s %s on %s has no answer and %s does not know it;"
                  " no new %s entry until `signalgate orders resolve %s --found|--gone`",
                  bracket.id, order.leg, cid, venue.name, venue.name, bracket.symbol,
                  cid)  # fmt: skip
        if cid not in self._doubted:
            self._doubted.add(cid)
            self._lineage(bracket, "in_doubt", doubt_detail(bracket, order, venue.name),
                          client_order_id=cid)  # fmt: skip
            self.notifier.notify(notices.in_doubt(bracket, order))
        if order.state is OrderState.UNKNOWN:
            return bracket
        unknown = msgspec.structs.replace(order, state=OrderState.UNKNOWN)
        return self._save(with_order(bracket, unknown))

    def settle_doubt(
        self, bracket: Bracket, order: LegOrder, status: OrderStatus | None, by: str
    ) -> Bracket:
        """Settle `order`, in doubt, as the venue now reports it (`status`), or as gone (None),
        on an operator's word (`by`): saved and on the lineage."""
        cid = order.client_order_id
        self._doubted.discard(cid)
        self.misses.forget(cid)
        if status is None:
            settled_order = with_order(
                bracket, msgspec.structs.replace(order, state=OrderState.EXPIRED)
            )
            detail = f"{order.leg} order {cid} settled as gone by {by}"
        else:
            settled_order = self._reported(bracket, order, status)
            detail = (f"{order.leg} order {cid} settled by {by} as the venue reports it:"
                      f" {status.state}, {status.filled} filled")  # fmt: skip
        self._lineage(settled_order, "doubt_resolved", detail, client_order_id=cid)
        return self._save(settled_order)

    async def _apply(
        self, bracket: Bracket, venue: Exchange, action: Action
    ) -> tuple[Bracket, bool]:
        """Run one action; True when the result calls for a new plan."""
        match action:
            case Place(order=order):
                bracket = await self._place(with_order(bracket, order), venue, order)
                placed = bracket.order(order.client_order_id)
                surprise = placed.state in (OrderState.REJECTED, OrderState.UNKNOWN)
                return bracket, surprise or bracket.state in FINAL
            case Cancel(client_order_id=cid):
                return await self._cancel(bracket, venue, cid)
            case Settle(state=state):
                done = settled(bracket, state, self.clock())
                self._lineage(done, str(state), f"bracket {state}, realized P&L "
                              f"{done.realized_pnl.normalize():f} {done.market.quote}",
                              realized_pnl=str(done.realized_pnl))  # fmt: skip
                if (saved := self._save(done)).state is BracketState.CLOSED:
                    self.notifier.notify(notices.closed(saved))
                return saved, True
        raise AssertionError(f"unknown action {action!r}")

    async def _place(self, bracket: Bracket, venue: Exchange, order: LegOrder) -> Bracket:
        try:
            status = await self.create(bracket, order, venue)
        except OutcomeUnknown as error:
            log.warning("bracket %s: %s outcome unknown (%s)", bracket.id,
                        order.client_order_id, error)  # fmt: skip
            unknown = msgspec.structs.replace(order, state=OrderState.UNKNOWN)
            return self._save(with_order(bracket, unknown))
        except (Fatal, Retryable) as error:
            refused = msgspec.structs.replace(order, state=OrderState.REJECTED)
            bracket = with_order(bracket, refused)
            self._lineage(bracket, "order_refused", f"{venue.name} refused {order.leg}"
                          f" {order.client_order_id}: {error}",
                          client_order_id=order.client_order_id)  # fmt: skip
            if still_covered(bracket, order):  # a new-first replacement: the old leg rests
                bracket = msgspec.structs.replace(bracket, cancel_first=True)
                self._lineage(bracket, "replace", f"{order.leg} replaced old-first from now on:"
                              f" {venue.name} refused the new one while the old one"
                              " rested")  # fmt: skip
            elif order.leg in (Leg.STOP_LOSS, Leg.TAKE_PROFIT):
                bracket = self._unprotected(bracket, f"{order.leg} could not be placed: {error}")
            return self._save(bracket)
        bracket = self._reported(bracket, order, status)
        self._lineage(bracket, "order", f"{order.leg} {order.kind} {order.side} {order.amount}"
                      f" {bracket.symbol} on {venue.name}: {status.state}",
                      client_order_id=order.client_order_id, order_id=status.order_id,
                      state=str(status.state))  # fmt: skip
        return self._save(bracket)

    def _unprotected(self, bracket: Bracket, why: str) -> Bracket:
        log.error("UNPROTECTED bracket %s %s %s on %s: %s", bracket.id, bracket.side,
                  bracket.symbol, bracket.venue, why)  # fmt: skip
        policy = "closing the position" if self.close_unprotected else "left as it is"
        self._lineage(bracket, "unprotected", f"{why}; {policy}")
        self.notifier.notify(notices.unprotected(bracket, why, closing=self.close_unprotected))
        return msgspec.structs.replace(
            bracket,
            state=BracketState.UNPROTECTED,
            note=why,
            closing=bracket.closing or self.close_unprotected,
        )

    async def _cancel(self, bracket: Bracket, venue: Exchange, cid: str) -> tuple[Bracket, bool]:
        order = bracket.order(cid)
        if order.order_id is None:  # never accepted by the venue: nothing rests there
            gone = msgspec.structs.replace(order, state=OrderState.CANCELLED)
            return self._save(with_order(bracket, gone)), False
        self._on_record(bracket)  # a save, so that a stale holder cancels nothing either
        try:
            status = await venue.cancel_order(bracket.symbol, order.order_id)
        except OrderNotFound:  # already closed: filled (a lost race) or cancelled
            try:
                status = await venue.fetch_order(bracket.symbol, order.order_id)
            except ExchangeError as error:
                log.warning("bracket %s: %s unreadable after a cancel (%s)", bracket.id, cid, error)
                return bracket, True
        except ExchangeError as error:
            log.warning("bracket %s: cancel of %s failed (%s)", bracket.id, cid, error)
            pending = msgspec.structs.replace(order, state=OrderState.UNKNOWN)
            return self._save(with_order(bracket, pending)), True
        bracket = self._save(self._reported(bracket, order, status))
        now = bracket.order(cid)
        return bracket, now.filled != order.filled or now.state is not OrderState.CANCELLED

    def _mark_open(self, bracket: Bracket) -> Bracket:
        if bracket.state is BracketState.OPENING and bracket.position > 0:
            return self._save(msgspec.structs.replace(bracket, state=BracketState.OPEN))
        return bracket
