"""The terms of an entry, from the signal and the venues' quotes: its side, the reference price
it is sized at, the market it is sized for, its targets and its order."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from app.domain.accounts import AccountRules
from app.domain.brackets.bracket import Bracket, LegOrder
from app.domain.execution_policy import EntryPolicy
from app.domain.market import Market
from app.domain.orders import Leg, OrderKind, Side, client_order_id
from app.domain.signals import OrderType, PositionSide, Signal
from app.domain.sizing import Sized, SizingRequest, Unsizable, size
from app.domain.targets import Targets, bracket_targets
from app.ports.execution import Holding
from app.services.execution.views import Denial, VenueView


def side_of(position_side: PositionSide | None) -> Side | None:
    """The entries' side of a long or short position (None for none named)."""
    if position_side is None:
        return None
    return Side.BUY if position_side is PositionSide.LONG else Side.SELL


def sized_for(
    rules: AccountRules,
    signal: Signal,
    reference: Decimal,
    stop: Decimal | None,
    equity: Decimal,
    market: Market,
) -> Sized | Unsizable:
    """The entry's size for the signal's account: the alert's quantity (or the default
    sizing), or the account's own, times its multiplier; the explanation says which."""
    mode = signal.qty_mode if signal.quantity is not None else rules.sizing.default_mode
    mode, quantity, note = rules.sizing_terms(mode, signal.quantity)
    sized = size(SizingRequest(mode, quantity, reference, stop, equity), market, rules.sizing)
    if note and isinstance(sized, Sized):
        return msgspec.structs.replace(sized, explanation=f"{sized.explanation} ({note})")
    return sized


def reference_price(signal: Signal, side: Side, views: Sequence[VenueView]) -> Decimal | None:
    """The price the entry is sized and checked at: a limit order's own, else the best healthy
    book's, else the alert's."""
    if signal.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and signal.limit_price:
        return signal.limit_price
    books = [v.quote.book for v in views if v.quote.book is not None and v.quote.healthy]
    prices = [b.best_ask if side is Side.BUY else b.best_bid for b in books]
    known = [p for p in prices if p is not None]
    if known:
        return min(known) if side is Side.BUY else max(known)
    return signal.price


def sizing_market(views: Sequence[VenueView], hint: str | None) -> Market | None:
    """The market the entry is sized for: the hinted venue's, else the first listing it."""
    listed = [v.quote for v in views if v.quote.market is not None]
    for quote in listed:
        if quote.venue == hint:
            return quote.market
    return listed[0].market if listed else None


def targets_for(
    signal: Signal,
    side: Side,
    entry: Decimal,
    market: Market,
    denial: Denial,
    default_stop: Decimal | None = None,
) -> Targets | None:
    """The bracket's targets from `entry` (`default_stop`: DEFAULT_STOP_LOSS_PERCENT); None, with
    the reason on the denial, when they make no sense."""
    try:
        return bracket_targets(signal, side, entry, market, default_stop)
    except ValueError as error:
        denial.add("tp_sl_sanity", str(error))
        return None


def retarget(
    bracket: Bracket,
    signal: Signal,
    side: Side,
    targets: Targets,
    default_stop: Decimal | None = None,
) -> Bracket:
    """Targets given in percent are measured from the actual fill, once there is one."""
    entry = bracket.entry_price
    if entry is None:
        return bracket
    try:
        actual = bracket_targets(signal, side, entry, bracket.market, default_stop)
    except ValueError:
        actual = targets
    return msgspec.structs.replace(
        bracket,
        take_profits=actual.take_profits,
        stop_loss=actual.stop_loss,
        trailing_percent=actual.trailing_percent,
    )


def entry_order(
    order_type: OrderType, bracket: Bracket, amount: Decimal, signal: Signal
) -> LegOrder:
    """The bracket's entry order: market, limit or stop as the alert asks."""
    kind, price, trigger = OrderKind.MARKET, None, None
    if order_type is OrderType.LIMIT and signal.limit_price:
        kind, price = OrderKind.LIMIT, signal.limit_price
    elif order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and signal.stop_price:
        kind, trigger = OrderKind.STOP_MARKET, signal.stop_price
    return LegOrder(
        leg=Leg.ENTRY,
        client_order_id=client_order_id(
            bracket.id,
            Leg.ENTRY,
            max_length=bracket.client_id_length,
            lowercase=bracket.client_id_lowercase,
        ),
        side=bracket.side,
        kind=kind,
        amount=amount,
        price=price,
        trigger_price=trigger,
    )


def policy_verdict(
    policy: EntryPolicy, symbol: str, side: Side, holdings: Sequence[Holding]
) -> str | bool:
    """A denial sentence, True to flatten the opposite side first, or False to go ahead."""
    held = [h for h in holdings if h.symbol == symbol]
    if not held:
        return False
    same = any(h.side is side for h in held)
    if policy is EntryPolicy.IGNORE or (same and policy is EntryPolicy.REVERSE):
        what = "long" if held[0].side is Side.BUY else "short"
        return (
            f"a {what} {symbol} position is open and ENTRY_POLICY={policy};"
            " set ENTRY_POLICY=add to add to it or close it first"
        )
    return not same
