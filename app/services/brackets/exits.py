"""The price a bracket's position exits at, and whether the driver watches it."""

from __future__ import annotations

import logging
from decimal import Decimal

from app.domain.brackets.bracket import Bracket
from app.domain.market import OrderBook
from app.domain.orders import Side
from app.ports.errors import ExchangeError
from app.ports.exchange import Exchange

log = logging.getLogger("signalgate.brackets")


def watched(bracket: Bracket) -> bool:
    """Whether a target, a trailing stop or the stop-loss of the bracket is watched here, on
    the exit price."""
    watched = (
        bracket.trailing_percent is not None
        or (bool(bracket.take_profits) and not bracket.resting_legs)
        or (bracket.stop_watched and bracket.stop_loss is not None)
    )
    return watched and bracket.position > 0


def exit_side(bracket: Bracket, book: OrderBook) -> Decimal | None:
    """The price the bracket's position exits at: the best bid for a long, the ask for a short."""
    return book.best_bid if bracket.side is Side.BUY else book.best_ask


async def exit_price(bracket: Bracket, venue: Exchange) -> Decimal | None:
    """The price the position would exit at now, when a watched target, a trailing stop or a
    watched stop-loss needs it (the best bid for a long, the best ask for a short)."""
    if not watched(bracket):
        return None
    try:
        book = await venue.order_book(bracket.symbol, 5)
    except ExchangeError as error:
        if bracket.stop_watched:  # nothing rests: the position waits unprotected
            log.warning("bracket %s: no price from %s (%s); its watched stop-loss waits",
                        bracket.id, venue.name, error)  # fmt: skip
        return None
    return exit_side(bracket, book)
