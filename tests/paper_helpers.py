"""Books and order requests written briefly, for the tests of the paper venue and exchange."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

from app.domain.market import Level, OrderBook
from app.domain.orders import OrderKind, OrderRequest, Side

SYMBOL = "BTC/USDT"
_ids = count()


def book(bids: str = "", asks: str = "", symbol: str = SYMBOL) -> OrderBook:
    """`book(bids="99x1 98x2", asks="100x1 101x2")`: price x amount, best first."""

    def levels(text: str) -> tuple[Level, ...]:
        return tuple(
            Level(Decimal(p), Decimal(a)) for p, a in (pair.split("x") for pair in text.split())
        )

    return OrderBook(symbol, levels(bids), levels(asks))


def order(
    side: Side,
    kind: OrderKind,
    amount: str,
    *,
    price: str | None = None,
    trigger: str | None = None,
    client_id: str | None = None,
    symbol: str = SYMBOL,
) -> OrderRequest:
    """An order request; without `client_id`, a fresh one (`c0`, `c1`, ...)."""
    return OrderRequest(
        client_id or f"c{next(_ids)}",
        symbol,
        side,
        kind,
        Decimal(amount),
        None if price is None else Decimal(price),
        None if trigger is None else Decimal(trigger),
    )
