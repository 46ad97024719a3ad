"""The bracket planner: the actions that keep a position protected, one-cancels-the-other.

A bracket is a value (``bracket``). `plan()` compares what should protect the position (from
the fills and the targets) with the orders that do, and returns the actions that close the gap, in
the order they must run. The executor applies them one at a time and plans again after anything
unexpected (a cancel that lost to a fill), so the one function drives the first placement, partial
fills, OCO, closing, over-fills and recovery after a crash.

Two ways to protect, chosen from the venue's capabilities:
- resting legs (venues with reduce-only orders, e.g. perpetuals): the stop-loss and every
  take-profit rest on the venue as reduce-only trigger orders; when one fills the others shrink
  or go.
- a resting stop, watched targets (spot): two resting sells cannot share the same coins, so the
  stop-loss rests for the whole position and the take-profits are watched here; when the price
  reaches a target, the stop is cancelled first, the target sold at market, and the stop placed
  again for what is left.
- nothing resting (venues whose API has no stop orders, `Capabilities.stop_market` False: the
  bracket's `stop_watched`): the stop-loss is watched here like the targets; when the exit price
  reaches it, whatever rests is cancelled and the position is sold at market.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec

from app.domain.brackets.bracket import FINAL, Bracket, BracketState, LegOrder
from app.domain.market import Market
from app.domain.orders import UNSETTLED, Leg, OrderKind, Side, client_order_id
from app.domain.targets import TrailingRules, split_amount, trailing_stop

_ZERO = Decimal(0)


# --- actions ------------------------------------------------------------------------------------


class Place(msgspec.Struct, frozen=True, tag=True):
    order: LegOrder


class Cancel(msgspec.Struct, frozen=True, tag=True):
    client_order_id: str


class Settle(msgspec.Struct, frozen=True, tag=True):
    state: BracketState  # CLOSED or FAILED


Action = Place | Cancel | Settle


def placeable(amount: Decimal, price: Decimal | None, market: Market) -> bool:
    """Whether an order of `amount` (already a step multiple) meets the venue's minimums."""
    if amount <= 0 or amount < market.min_amount:
        return False
    return price is None or amount * price >= market.min_cost


def _truncate(value: Decimal, step: Decimal) -> Decimal:
    return value // step * step if value > 0 else _ZERO


def _new_leg(
    bracket: Bracket,
    leg: Leg,
    side: Side,
    kind: OrderKind,
    amount: Decimal,
    *,
    index: int = 0,
    trigger: Decimal | None = None,
    reduce_only: bool = False,
) -> LegOrder:
    revision = 1 + max(
        (o.revision for o in bracket.orders if o.leg is leg and o.index == index), default=-1
    )
    return LegOrder(
        leg=leg,
        client_order_id=client_order_id(
            bracket.id,
            leg,
            revision,
            index=index,
            max_length=bracket.client_id_length,
            lowercase=bracket.client_id_lowercase,
        ),
        side=side,
        kind=kind,
        amount=amount,
        index=index,
        revision=revision,
        trigger_price=trigger,
        reduce_only=reduce_only,
    )


def target_amounts(bracket: Bracket) -> tuple[Decimal, ...]:
    """What each take-profit target closes, from the entry filled so far."""
    if not bracket.take_profits:
        return ()
    filled = _truncate(bracket.entry_filled, bracket.market.amount_step)
    shares = [share for _, share in bracket.take_profits]
    total = sum(shares, _ZERO)
    covered = _truncate(filled * total, bracket.market.amount_step) if total < 1 else filled
    if covered <= 0:
        return tuple(_ZERO for _ in shares)
    return split_amount(covered, [share / total for share in shares], bracket.market)


def _target_left(bracket: Bracket, index: int, amounts: tuple[Decimal, ...]) -> Decimal:
    done = sum(
        (o.filled for o in bracket.orders if o.leg is Leg.TAKE_PROFIT and o.index == index),
        _ZERO,
    )
    return max(amounts[index] - done, _ZERO)


def _reached(side: Side, target: Decimal, price: Decimal) -> bool:
    return price >= target if side is Side.BUY else price <= target


def plan(bracket: Bracket, exit_price: Decimal | None) -> list[Action]:
    """The actions that make the venue's orders match what the position needs.

    Args:
        bracket: the bracket with its orders as last reported by the venue.
        exit_price: the price the position would exit at now (the best bid for a long, the best
            ask for a short); None when unknown (targets watched here then wait).

    Returns:
        Actions to run in order; after a Cancel whose order turns out filled, plan again.
        Nothing while an order's outcome is unsettled (look it up first).
    """
    if bracket.state in FINAL or any(o.state in UNSETTLED for o in bracket.orders):
        return []
    market = bracket.market
    exit_side = bracket.side.opposite
    resting = bracket.resting_legs
    live = [o for o in bracket.orders if o.is_open]
    legs = [o for o in live if o.leg is not Leg.ENTRY]
    entries = [o for o in live if o.leg is Leg.ENTRY]
    position = bracket.position

    # a cancel lost to a fill: more went out than came in; buy it back. What reconciliation
    # took off (`adjusted`: the venue held less) is never bought back: a stop that filled after
    # the venue was read sold coins the venue had, and the next reconciliation squares the rest.
    over = bracket.exited - bracket.entry_filled
    if over > 0:
        return [
            *(Cancel(o.client_order_id) for o in legs),
            Place(_new_leg(bracket, Leg.EXIT, bracket.side, OrderKind.MARKET, over,
                           reduce_only=resting)),
        ]  # fmt: skip
    held = _truncate(position, market.amount_step)
    if bracket.closing:
        cancels: list[Action] = [Cancel(o.client_order_id) for o in live if o.leg is not Leg.EXIT]
        if cancels or any(o.leg is Leg.EXIT for o in live):
            return cancels
        if placeable(held, exit_price, market):
            exit_order = _new_leg(
                bracket, Leg.EXIT, exit_side, OrderKind.MARKET, held, reduce_only=resting
            )
            return [Place(exit_order)]
        return [_settle(bracket)]
    if not placeable(held, exit_price, market):  # nothing (left) to protect
        drop: list[Action] = [Cancel(o.client_order_id) for o in legs]
        if entries:
            return drop
        return [*drop, _settle(bracket)]

    stops = [o for o in legs if o.leg is Leg.STOP_LOSS]
    stop = bracket.stop_loss
    if bracket.stop_watched and stop is not None:
        if stops:  # no stop rests on such a venue: a live one is the one fired, at work
            return []
        if exit_price is not None and _reached(exit_side, stop, exit_price):
            fire = _new_leg(
                bracket, Leg.STOP_LOSS, exit_side, OrderKind.MARKET, held, reduce_only=resting
            )
            return [*(Cancel(o.client_order_id) for o in legs), Place(fire)]
    amounts = target_amounts(bracket)
    if not resting and exit_price is not None:
        for index, (target, _) in enumerate(bracket.take_profits):
            amount = min(_target_left(bracket, index, amounts), held)
            if amount <= 0 or not _reached(bracket.side, target, exit_price):
                continue
            if not placeable(amount, exit_price, market):
                continue
            fire = _new_leg(
                bracket, Leg.TAKE_PROFIT, exit_side, OrderKind.MARKET, amount, index=index
            )
            # the stop holds the coins: free them first, then sell the target
            return [*(Cancel(o.client_order_id) for o in stops), Place(fire)]

    actions: list[Action] = []
    if bracket.stop_loss is not None and not bracket.stop_watched:
        actions += _keep(
            bracket, stops, Leg.STOP_LOSS, 0, held, bracket.stop_loss, OrderKind.STOP_MARKET
        )
    if resting:
        for index, (target, _) in enumerate(bracket.take_profits):
            want = min(_target_left(bracket, index, amounts), held)
            mine = [o for o in legs if o.leg is Leg.TAKE_PROFIT and o.index == index]
            if want <= 0 or not placeable(want, target, market):
                actions += [Cancel(o.client_order_id) for o in mine]
                continue
            actions += _keep(
                bracket, mine, Leg.TAKE_PROFIT, index, want, target, OrderKind.TAKE_PROFIT_MARKET
            )
    return actions


class PriceTests(msgspec.Struct, frozen=True):
    """Every comparison with the exit price that `plan` makes for one bracket (as it is), each
    told by `outcome`: two prices with the same outcome get the same plan. Lets a monitor skip
    planning a bracket again while neither it nor the answer of these comparisons changed."""

    side: Side
    market: Market
    held: Decimal
    stop: Decimal | None  # a watched stop not fired yet
    targets: tuple[tuple[Decimal, Decimal], ...]  # watched targets: (price, amount left)

    def outcome(self, exit_price: Decimal) -> tuple[bool, ...]:
        exit_side = self.side.opposite
        return (
            placeable(self.held, exit_price, self.market),
            self.stop is not None and _reached(exit_side, self.stop, exit_price),
            *(
                test
                for target, amount in self.targets
                for test in (_reached(self.side, target, exit_price),
                             placeable(amount, exit_price, self.market))
            ),
        )  # fmt: skip


def price_tests(bracket: Bracket) -> PriceTests | None:
    """The price comparisons of `plan(bracket, price)`; None for a bracket whose plan does not
    depend on the price this way (final, an order unsettled, over-filled, closing: rare and
    planned every time)."""
    if (
        bracket.state in FINAL
        or bracket.closing
        or bracket.exited > bracket.entry_filled
        or any(o.state in UNSETTLED for o in bracket.orders)
    ):
        return None
    held = _truncate(bracket.position, bracket.market.amount_step)
    stop = bracket.stop_loss if bracket.stop_watched else None
    if any(o.is_open and o.leg is Leg.STOP_LOSS for o in bracket.orders):
        stop = None  # a fired stop at work: nothing watched
    targets: tuple[tuple[Decimal, Decimal], ...] = ()
    if not bracket.resting_legs:
        amounts = target_amounts(bracket)
        targets = tuple((target, min(_target_left(bracket, index, amounts), held))
                        for index, (target, _) in enumerate(bracket.take_profits))  # fmt: skip
    return PriceTests(bracket.side, bracket.market, held, stop, targets)


def _keep(
    bracket: Bracket,
    current: list[LegOrder],
    leg: Leg,
    index: int,
    amount: Decimal,
    trigger: Decimal,
    kind: OrderKind,
) -> list[Action]:
    """One resting order of `amount` at `trigger`: keep a matching one (cancel any other), else
    replace them: the new order first where the legs are reduce-only (the position is never
    without its leg), the old ones first on spot (two resting sells cannot share the coins, and
    a second sell that is not reduce-only could sell coins the bracket does not hold)."""
    matching = [o for o in current if o.remaining == amount and o.trigger_price == trigger]
    if matching:  # the newest kept: an old one whose cancel was lost matches too, at most
        kept = max(matching, key=lambda o: o.revision)
        return [Cancel(o.client_order_id) for o in current if o is not kept]
    wanted = _new_leg(
        bracket,
        leg,
        bracket.side.opposite,
        kind,
        amount,
        index=index,
        trigger=trigger,
        reduce_only=bracket.resting_legs,
    )
    cancels: list[Action] = [Cancel(o.client_order_id) for o in current]
    if bracket.resting_legs and not bracket.cancel_first:
        return [Place(wanted), *cancels]
    return [*cancels, Place(wanted)]


def _settle(bracket: Bracket) -> Settle:
    return Settle(BracketState.CLOSED if bracket.entry_filled > 0 else BracketState.FAILED)


def trailed(
    bracket: Bracket, exit_price: Decimal | None, now: datetime, rules: TrailingRules
) -> Bracket:
    """The bracket with its trailing stop moved after a better price (never loosened), at most
    once per `rules.min_interval_seconds` and by at least its smallest move. The best price is
    kept meanwhile, so that a move that had to wait catches up with it."""
    percent, stop = bracket.trailing_percent, bracket.stop_loss
    if percent is None or stop is None:
        return bracket
    best = bracket.best_price
    if exit_price is not None and (
        best is None or (exit_price > best if bracket.side is Side.BUY else exit_price < best)
    ):
        best = exit_price
    seen = (
        bracket if best == bracket.best_price else msgspec.structs.replace(bracket, best_price=best)
    )
    last = bracket.trailed_at
    if best is None or (
        last is not None and (now - last).total_seconds() < rules.min_interval_seconds
    ):
        return seen
    moved = trailing_stop(bracket.side, stop, best, percent, bracket.market, rules.min_step_percent)
    if moved == stop:
        return seen
    return msgspec.structs.replace(seen, stop_loss=moved, trailed_at=now)
