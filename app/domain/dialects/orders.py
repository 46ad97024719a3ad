"""What an alert's order is: its action, the position it acts on, its order type and quantity.

A close keeps a quantity the alert gives (a partial close); without one it closes the whole
position. Without an explicit order type, a limit price makes a limit order, a stop price a stop
order, both a stop-limit.
"""

from __future__ import annotations

from decimal import Decimal

from app.domain.dialects.fields import Fields
from app.domain.dialects.results import missing
from app.domain.dialects.values import PERCENT, POSITIVE
from app.domain.signals import Action, OrderType, PositionSide, QtyMode, StrategyPosition

ORDER_TYPES = {kind.value: kind for kind in OrderType}
POSITION_SIDES = {side.value: side for side in PositionSide}
SIDES = {"buy": Action.BUY, "sell": Action.SELL}
_MARKET_POSITIONS = {"long": "long", "short": "short", "flat": "flat"}
_PERCENT_MODES = (QtyMode.PERCENT_EQUITY, QtyMode.RISK_PERCENT)
_INFERRED_ORDER_TYPES = {
    (False, False): OrderType.MARKET,
    (True, False): OrderType.LIMIT,
    (False, True): OrderType.STOP,
    (True, True): OrderType.STOP_LIMIT,
}


def resolve_order_type(
    named: OrderType | None, limit: Decimal | None, stop: Decimal | None, fields: tuple[str, str]
) -> OrderType:
    """The named order type, checked for its prices, or the one its prices imply."""
    if named is None:
        return _INFERRED_ORDER_TYPES[limit is not None, stop is not None]
    if named in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit is None:
        raise missing(fields[0], f"a {named.value} order needs it")
    if named in (OrderType.STOP, OrderType.STOP_LIMIT) and stop is None:
        raise missing(fields[1], f"a {named.value} order needs it")
    return named


def read_quantity(f: Fields, mode: QtyMode, *keys: str) -> Decimal | None:
    return f.number(*keys, within=PERCENT if mode in _PERCENT_MODES else POSITIVE)


def strategy_intent(
    side: Action, f: Fields, amount: Decimal | None
) -> tuple[Action, PositionSide | None, Decimal | None]:
    """Action, position side and quantity from TradingView's strategy.*market_position values."""
    now = f.choice(_MARKET_POSITIONS, "market_position")
    before = f.choice(_MARKET_POSITIONS, "prev_market_position")
    if now == "flat":  # the strategy is flat after this order: close all, whatever contracts says
        return Action.CLOSE, POSITION_SIDES.get(before or "", closed_by(side)), None
    if now in POSITION_SIDES and before in POSITION_SIDES and now != before:
        return Action.REVERSE, POSITION_SIDES[before], f.number("market_position_size")
    return side, None, amount


def strategy_position(f: Fields) -> StrategyPosition | None:
    """Where the strategy stands after this order and stood before it, when the alert says."""
    after = f.choice(_MARKET_POSITIONS, "market_position")
    before = f.choice(_MARKET_POSITIONS, "prev_market_position")
    if after is None and before is None:
        return None
    size = f.number("market_position_size") if after in POSITION_SIDES else None
    return StrategyPosition(after=after, before=before, size=size)


def closed_by(action: Action) -> PositionSide:
    """The position an order on this side closes: a sell closes a long."""
    return PositionSide.LONG if action is Action.SELL else PositionSide.SHORT


def direction(action: Action, side: PositionSide | None) -> int | None:
    """+1 when the position ends long, -1 when short, None when it ends flat."""
    match action:
        case Action.BUY:
            return 1
        case Action.SELL:
            return -1
        case Action.REVERSE:
            return -1 if side is PositionSide.LONG else 1
        case _:
            return None
