"""The paper exchange: the `Exchange` port over an in-process `PaperVenue`, the default venue.

Books come from a callable (the market data feed plugs in there); each order call first hands
the venue the current book, so resting orders see the same prices a new order does.

With a store (`PaperExchange.open`), the venue starts from its saved state and is saved again,
whole and synchronously, after every change (an order placed or cancelled, resting orders
filled or triggered by a new book). The cost: one upsert per change, of a document that grows
with the fill history (a few ms on SQLite or a local PostgreSQL); paper trading is far below
that rate. Without a store nothing is saved and the engine runs at full speed (bench.paper).
One process per venue name: two writers would overwrite each other's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from app.domain.market import Market, OrderBook
from app.domain.orders import Fill, OrderRequest, OrderStatus
from app.domain.paper import (
    DuplicateClientOrderId,
    InsufficientPaperFunds,
    InvalidPaperOrder,
    PaperOrderNotFound,
    PaperRejection,
    PaperState,
    PaperVenue,
)
from app.ports import (
    Balance,
    Capabilities,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    Retryable,
    Unavailable,
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


class PaperStateStore(Protocol):
    """Where paper venue states are kept between runs (`app.adapters.paper_store`)."""

    def load(self, name: str) -> PaperState | None: ...

    def save(self, name: str, state: PaperState) -> None: ...


class PaperExchange:
    """Implements `app.ports.Exchange` over one `PaperVenue`."""

    def __init__(
        self,
        venue: PaperVenue,
        books: Callable[[str], OrderBook],
        clock: Callable[[], datetime],
        capabilities: Capabilities = PAPER_CAPABILITIES,
        store: PaperStateStore | None = None,
    ) -> None:
        self.name = venue.name
        self.capabilities = capabilities
        self.venue = venue
        self._books = books
        self._clock = clock
        self._store = store

    @classmethod
    def open(
        cls,
        name: str,
        markets: Iterable[Market],
        books: Callable[[str], OrderBook],
        clock: Callable[[], datetime],
        store: PaperStateStore,
        balances: Mapping[str, Decimal] | None = None,
        capabilities: Capabilities = PAPER_CAPABILITIES,
    ) -> PaperExchange:
        """The venue `name` as `store` last saved it, else a new one with `markets` and
        `balances` (saved at once). A restored venue keeps its saved markets.

        Raises:
            Unavailable: the store could not be reached.
        """
        state = store.load(name)
        if state is None:
            venue = PaperVenue(name, markets, balances)
            store.save(name, venue.snapshot())
        else:
            venue = PaperVenue.restore(state)
        return cls(venue, books, clock, capabilities, store)

    def _save(self, lost: type[ExchangeError]) -> None:
        """Keep the venue's state; a store outage becomes `lost` (the change stands in memory
        and the next successful save keeps it too)."""
        if self._store is None:
            return
        try:
            self._store.save(self.name, self.venue.snapshot())
        except Unavailable as error:
            raise lost(f"the paper venue {self.name} could not be saved: {error}") from error

    def _refresh(self, symbol: str) -> datetime:
        now = self._clock()
        if symbol in self.venue.markets and self.venue.on_book(self._books(symbol), now):
            self._save(Retryable)
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
            status = self.venue.create_order(request, now)
        self._save(OutcomeUnknown)  # placed, but a restart would lose it: the caller looks it up
        return status

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        now = self._refresh(symbol)
        with _venue_errors():
            self._same_symbol(symbol, order_id)
            status = self.venue.cancel_order(order_id, now)
        self._save(Retryable)
        return status

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
