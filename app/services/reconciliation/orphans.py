"""Orphans: orders resting on a venue with signalgate's client order id prefix that no open bracket
owns (a bracket settled while its leg was left behind, a database restored from an old copy, a
crash between a cancel's send and its record). Nothing would ever watch or cancel them, and a
forgotten stop or entry can fill at any time: they are cancelled, logged and counted.

The venue is read before the book: every order is on record before it is sent, so an order the
venue lists belongs to a bracket the book read afterwards shows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from app.domain.brackets.bracket import Bracket
from app.domain.orders import CLIENT_ORDER_ID_PREFIX, OrderStatus
from app.ports.errors import ExchangeError, OrderNotFound
from app.ports.exchange import Exchange

log = logging.getLogger("signalgate.reconciliation")


def orphans(resting: Iterable[OrderStatus], open_brackets: Iterable[Bracket]) -> list[OrderStatus]:
    """The resting orders that carry signalgate's prefix and belong to no open bracket (of any
    venue: two connections with the same keys list each other's orders)."""
    owned = {o.client_order_id for b in open_brackets for o in b.orders}
    return [
        order
        for order in resting
        if order.client_order_id.startswith(CLIENT_ORDER_ID_PREFIX)
        and order.client_order_id not in owned
    ]


async def cancel_orphans(venue: Exchange, found: Iterable[OrderStatus]) -> int:
    """Cancel each orphan; returns how many were cancelled."""
    cancelled = 0
    for order in found:
        what = (f"{order.side} {order.kind} {order.amount} {order.symbol} {order.client_order_id}"
                f" (id {order.order_id})")  # fmt: skip
        try:
            await venue.cancel_order(order.symbol, order.order_id)
        except OrderNotFound:
            log.info("orphan order %s on %s was gone already", what, venue.name)
            continue
        except ExchangeError as error:
            log.warning("orphan order %s on %s could not be cancelled (%s); trying again next"
                        " reconciliation", what, venue.name, error)  # fmt: skip
            continue
        else:
            log.warning("cancelled orphan order %s on %s: it carries signalgate's client order id"
                        " and no open bracket owns it", what, venue.name)  # fmt: skip
        cancelled += 1
    return cancelled
