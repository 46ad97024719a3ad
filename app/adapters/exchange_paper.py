"""The paper exchange: the `Exchange` port over an in-process `PaperVenue`, the default venue.

Books come from a callable (the market data feed plugs in there); each order call first hands
the venue the current book, so resting orders see the same prices a new order does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from app.domain.market import Market, OrderBook
from app.domain.orders import Fill, OrderRequest, OrderStatus
from app.domain.paper import (
    DuplicateClientOrderId,
    InsufficientPaperFunds,
    InvalidPaperOrder,
    PaperOrderNotFound,
    PaperRejection,
    PaperVenue,
)
from app.ports import (
    Balance,
    Capabilities,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
)

PAPER_CAPABILITIES = Capabilities(
    native_oco=False,
    attached_tp_sl=False,
    stop_market=True,
    reduce_only=False,  # spot only for now
    client_order_id_max_length=36,
    spot_locks_resting_sells=True,
)

_ERRORS: tuple[tuple[type[PaperRejection], type[ExchangeError]], ...] = (
    (InsufficientPaperFunds, InsufficientFunds),
    (PaperOrderNotFound, OrderNotFound),  # also a closed order, as Binance says "Unknown order"
    (DuplicateClientOrderId, InvalidOrder),
    (InvalidPaperOrder, InvalidOrder),
)


@contextmanager
def _venue_errors() -> Iterator[None]:
    """Translate the venue's refusals into the port's error types, message kept."""
    try:
        yield
    except PaperRejection as error:
        for domain_error, port_error in _ERRORS:
            if isinstance(error, domain_error):
                raise port_error(str(error)) from error
        raise InvalidOrder(str(error)) from error


class PaperExchange:
    """Implements `app.ports.Exchange` over one `PaperVenue`."""

    def __init__(
        self,
        venue: PaperVenue,
        books: Callable[[str], OrderBook],
        clock: Callable[[], datetime],
        capabilities: Capabilities = PAPER_CAPABILITIES,
    ) -> None:
        self.name = venue.name
        self.capabilities = capabilities
        self.venue = venue
        self._books = books
        self._clock = clock

    def _refresh(self, symbol: str) -> datetime:
        now = self._clock()
        if symbol in self.venue.markets:
            self.venue.on_book(self._books(symbol), now)
        return now

    async def markets(self) -> dict[str, Market]:
        return self.venue.markets

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        book = self._books(symbol)
        return OrderBook(book.symbol, book.bids[:depth], book.asks[:depth], book.at)

    async def balances(self) -> dict[str, Balance]:
        return {
            asset: Balance(asset, wallet.free, wallet.reserved)
            for asset, wallet in self.venue.balances().items()
        }

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        now = self._refresh(request.symbol)
        with _venue_errors():
            return self.venue.create_order(request, now)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        now = self._refresh(symbol)
        with _venue_errors():
            self._same_symbol(symbol, order_id)
            return self.venue.cancel_order(order_id, now)

    async def fetch_order(self, symbol: str, order_id: str) -> OrderStatus:
        self._refresh(symbol)
        with _venue_errors():
            return self._same_symbol(symbol, order_id)

    async def fetch_order_by_client_id(
        self, symbol: str, client_order_id: str
    ) -> OrderStatus | None:
        self._refresh(symbol)
        found = self.venue.order_by_client_id(client_order_id)
        return found if found is not None and found.symbol == symbol else None

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        if symbol is not None:
            self._refresh(symbol)
        return self.venue.open_orders(symbol)

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        return self.venue.fills_since(symbol, since)

    def _same_symbol(self, symbol: str, order_id: str) -> OrderStatus:
        status = self.venue.order(order_id)
        if status.symbol != symbol:
            raise PaperOrderNotFound(f"there is no order {order_id} for {symbol}")
        return status
