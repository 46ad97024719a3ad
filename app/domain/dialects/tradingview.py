"""TradingView's own strategy alert: the ``{{strategy.*}}`` placeholders under their names.

``market_position`` flat -> close the whole position (position_side from
``prev_market_position``, else the side the order closed: a sell closes a long); long after short
or short after long (both given) -> reverse sized by ``market_position_size`` (Pine's
``contracts`` then includes the closed position); otherwise buy/sell ``contracts`` in base.
``order_id`` is not the alert id: Pine repeats it on every entry, so later alerts would look like
duplicates; send ``id`` (e.g. "{{strategy.order.id}}-{{timenow}}") for that.
"""

from __future__ import annotations

from app.domain.dialects.exits import read_stop_loss, read_take_profits
from app.domain.dialects.fields import Fields, Table, alert_signal, read_table
from app.domain.dialects.orders import SIDES, strategy_intent, strategy_position
from app.domain.dialects.values import (
    read_choice,
    read_confidence,
    read_number,
    read_symbol,
    read_text,
    read_time,
    read_venue,
)
from app.domain.signals import Signal

_FIELDS: Table = {
    "strategy": ("strategy", read_text),
    "exchange": ("venue", read_venue),
    "price": ("price", read_number),
    "tp": ("take_profits", read_take_profits),
    "sl": ("stop_loss", read_stop_loss),
    "confidence": ("confidence", read_confidence),
    "id": ("alert_id", read_text),
    "alert_id": ("alert_id", read_text),
    "timenow": ("fired_at", read_time),  # the fire time beats {{time}}, the bar's open
    "time": ("fired_at", read_time),
    "comment": ("comment", read_text),
}


def tradingview_signal(f: Fields, route: str | None) -> Signal:
    instrument = read_symbol(*f.require("ticker"))
    side = read_choice(*f.require("action"), SIDES)
    action, position_side, quantity = strategy_intent(side, f, f.number("contracts"))
    return alert_signal(
        "tradingview",
        instrument,
        action,
        position_side=position_side,
        quantity=quantity,
        strategy_position=strategy_position(f),
        **read_table(f, _FIELDS, route=route),
    )
