"""The checks of a unit of linked signals: every leg through the same risk gate, sizing and
routing as a single signal, on its own venue only, its price now within the slippage budget of
the price the opportunity was found at, its venue's balances counting what the unit's earlier
legs bring there."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import msgspec

from app.domain.orders import Side
from app.domain.risk import Approved, check_before_sizing
from app.domain.routing import NoRoute, Route, choose_route
from app.domain.signals import Action, QtyMode, Signal
from app.domain.sizing import SizingRequest, Unsizable, size
from app.ports.execution import PendingSignal
from app.services.execution.context import ExecutionContext
from app.services.execution.reservations import EntryGate
from app.services.execution.views import Denial, VenueView, risk_request

_BPS = Decimal(10_000)
_0 = Decimal(0)
_to_json = msgspec.to_builtins


class ReadyLeg(msgspec.Struct, frozen=True):
    """A leg that passed every check: what to place, where."""

    pending: PendingSignal
    route: Route
    view: VenueView


def leg_name(pending: PendingSignal) -> str:
    """How a leg is named on the unit's lineage: its number, action, symbol and venue."""
    signal = pending.signal
    number = signal.link.leg + 1 if signal.link is not None else 1
    return f"leg {number} ({signal.action} {signal.symbol} on {signal.venue})"


async def checked(
    ctx: ExecutionContext, legs: Sequence[PendingSignal]
) -> tuple[list[ReadyLeg], list[str]]:
    """Every leg through the risk gate on its own venue: those that passed, and the reasons of
    every leg that did not (a leg that passed has its approval on its lineage)."""
    ready: list[ReadyLeg] = []
    reasons: list[str] = []
    brought: dict[tuple[str, str], Decimal] = {}  # what earlier legs bring, by venue, asset
    for pending in legs:
        outcome = await _check_leg(ctx, pending, brought)
        if isinstance(outcome, ReadyLeg):
            ready.append(outcome)
            _bring(brought, outcome)
        else:
            reasons.extend(f"{leg_name(pending)}: {why}" for why in outcome)
    return ready, reasons


async def _check_leg(
    ctx: ExecutionContext, pending: PendingSignal, brought: Mapping[tuple[str, str], Decimal]
) -> ReadyLeg | list[str]:
    """One leg's checks, its venue's free balances counting what the unit's earlier legs
    bring there (a triangle's second leg spends what its first buys)."""
    signal = pending.signal
    side = Side.BUY if signal.action is Action.BUY else Side.SELL
    account, views = await ctx.account_and_quotes(signal.account, signal.symbol)
    if doubt := ctx.doubt(signal, account):
        return [doubt]
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
    now, rules = ctx.clock(), ctx.rules(signal.account)
    snapshot = await ctx.snapshot(signal, account, [view], leg=True)
    denial = Denial(
        list(check_before_sizing(signal.symbol, side, False, snapshot, rules.limits, now))
    )
    reference = max(price or signal.price, signal.price)
    amount = signal.quantity
    funding = (venue, market.settle or market.quote) if side is Side.BUY else (venue, market.base)
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
        rules.sizing,
    )
    if isinstance(sized, Unsizable):
        denial.add("sizing", sized.reason)
        return denial.reasons
    route = choose_route(
        signal.symbol,
        side,
        sized.amount,
        [view.quote],
        slippage_bps=ctx.policy.slippage_bps,
        venue_hint=signal.venue,
    )
    if isinstance(route, NoRoute):
        return [*denial.reasons, route.reason]
    if moved := _moved(signal, side, route, ctx.policy.slippage_bps):
        denial.add("opportunity", moved)
    # a unit's legs are closed with the unit: no stop-loss is asked of them
    leg_request = risk_request(signal, side, route, [view], None, signal.price)
    # the account-wide limits with every other entry counted, and the leg's reservation, as an
    # entry's (released when the unit has run: `UnitExecutor.run`)
    decision = EntryGate(ctx).approve(
        pending,
        msgspec.structs.replace(leg_request, holds_position=False),
        [view],
        account,
        counted=snapshot,
    )
    checks = [*decision.checks, *denial.failed_extra]
    if not isinstance(decision, Approved) or denial.failed_extra:
        return [c.detail for c in checks if not c.passed]
    ctx.record(pending.id, "decision", "leg approved: every check passed", checks=_to_json(checks))
    return ReadyLeg(pending, route, view)


def _bring(brought: dict[tuple[str, str], Decimal], leg: ReadyLeg) -> None:
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
