"""The paper exchange: the `Exchange` port over an in-process `PaperVenue`, the default venue.

Books come from a callable (the market data feed plugs in there); each order call first hands
the venue the current book, so resting orders see the same prices a new order does.

With a store (`PaperExchange.open`), the venue starts from its saved state and saves, after
every change (an order placed or cancelled, resting orders filled or triggered by a new book)
and before answering, what changed: the changed orders and balances and the new fills, one
transaction of a few rows however long the history (bench.paper measures it). Memory keeps
the open orders and the last `retention` of closed orders and fills, at most about
`history_limit` of each (a busy venue makes thousands a minute); older ones are pruned and read
from the store when asked for (by client order id, by id, fills since a time).
Without a store nothing is saved or pruned and the engine runs at full speed.
One process per venue name: two writers would overwrite each other's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, TypeVar

from app.adapters.error_table import ErrorTable, translated
from app.domain.market import Market, OrderBook
from app.domain.orders import Fill, OrderRequest, OrderStatus
from app.domain.paper.state import (
    OPEN_STATES,
    DuplicateClientOrderId,
    InsufficientPaperFunds,
    InvalidPaperOrder,
    OrderClosed,
    PaperChanges,
    PaperOrder,
    PaperOrderNotFound,
    PaperRejection,
    PaperState,
)
from app.domain.paper.venue import PaperVenue
from app.ports.errors import (
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    Retryable,
    Unavailable,
)
from app.ports.exchange import Balance, Capabilities, Position

T = TypeVar("T")
DEFAULT_RETENTION = timedelta(hours=24)  # closed orders and fills kept in memory
DEFAULT_HISTORY_LIMIT = 5_000  # closed orders kept in memory at most, and as many fills
PRUNE_EVERY = timedelta(minutes=1)

PAPER_CAPABILITIES = Capabilities(
    native_oco=False,
    attached_tp_sl=False,
    stop_market=True,
    reduce_only=False,  # spot only for now
    client_order_id_max_length=36,
    spot_locks_resting_sells=True,
)

_ERRORS: ErrorTable = (
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
        raise translated(error, _ERRORS, InvalidOrder) from error


class PaperStateStore(Protocol):
    """Where paper venues are kept between runs (`app.adapters.paper.store.SqlPaperStore`).

    Every method raises `Unavailable` when the store cannot be reached.
    """

    def load(
        self, name: str, since: datetime | None = None, keep: int | None = None
    ) -> PaperState | None:
        """Balances, open orders, and closed orders and fills from `since` on (all if None),
        at most about the newest `keep` of each (all if None)."""
        ...

    def save_changes(self, name: str, changes: PaperChanges) -> None: ...

    def order_by_client_id(self, name: str, client_order_id: str) -> PaperOrder | None: ...

    def order(self, name: str, order_id: str) -> PaperOrder | None: ...

    def fills_between(
        self, name: str, symbol: str, since: datetime, until: datetime
    ) -> list[Fill]: ...


class PaperExchange:
    """Implements `app.ports.exchange.Exchange` over one `PaperVenue`."""

    request_expiry_seconds: float | None = None  # no expiry: a lost create stays in doubt

    def __init__(
        self,
        venue: PaperVenue,
        books: Callable[[str], OrderBook],
        clock: Callable[[], datetime],
        capabilities: Capabilities = PAPER_CAPABILITIES,
        store: PaperStateStore | None = None,
        retention: timedelta = DEFAULT_RETENTION,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> None:
        self.name = venue.name
        self.capabilities = capabilities
        self.venue = venue
        self._books = books
        self._clock = clock
        self._store = store
        self._retention = retention
        self._history_limit = history_limit
        # both kinds over the limit, with slack so that a prune forgets a tenth of it at least
        self._prune_above = 2 * history_limit + history_limit // 10
        self._next_prune: datetime | None = None
        self.book_changes = 0  # how many books filled or triggered a resting order

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
        retention: timedelta = DEFAULT_RETENTION,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> PaperExchange:
        """The venue `name` as `store` last saved it (open orders, balances and the last
        `retention` of history, its newest `history_limit` closed orders and fills at most),
        else a new one with `markets` and `balances` (saved at
        once). A restored venue keeps its saved markets.

        Raises:
            Unavailable: the store could not be reached.
        """
        state = store.load(name, clock() - retention, keep=history_limit)
        if state is None:
            venue = PaperVenue(name, markets, balances)
            store.save_changes(name, venue.changes())
        else:
            venue = PaperVenue.restore(state)
        return cls(venue, books, clock, capabilities, store, retention, history_limit)

    def _save(self, lost: type[ExchangeError]) -> None:
        """Save what changed; a store outage becomes `lost` (the change stands in memory and
        the next successful save keeps it too)."""
        changes = self.venue.changes()  # without a store: dropped, so nothing piles up
        if self._store is None or changes.empty:
            return
        try:
            self._store.save_changes(self.name, changes)
        except Unavailable as error:
            self.venue.requeue(changes)
            raise lost(f"the paper venue {self.name} could not be saved: {error}") from error

    def _read(self, read: Callable[[PaperStateStore], T], default: T) -> T:
        """Ask the store for history older than memory holds; `default` without one."""
        if self._store is None or self.venue.history_since is None:
            return default
        try:
            return read(self._store)
        except Unavailable as error:
            raise Retryable(f"the paper venue {self.name} could not be read: {error}") from error

    def refresh(self, symbol: str) -> None:
        """Take the current price of `symbol`: fill crossed resting limits, fire triggered stops
        (what every request does first; a backtest moves the price without a request)."""
        self._refresh(symbol)

    def _refresh(self, symbol: str) -> datetime:
        now = self._clock()
        if self.venue.lists(symbol) and self.venue.on_book(self._books(symbol), now):
            self.book_changes += 1
            self._save(Retryable)
        if self._store is not None and (
            self._next_prune is None
            or now >= self._next_prune
            or self.venue.history_size > self._prune_above
        ):  # the store keeps what memory forgets
            self.venue.prune(now - self._retention, keep=self._history_limit)
            self._next_prune = now + PRUNE_EVERY
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
        client_order_id = request.client_order_id
        if self.venue.order_by_client_id(client_order_id) is None and self._read(
            lambda store: store.order_by_client_id(self.name, client_order_id), None
        ):
            raise InvalidOrder(f"client order id {client_order_id} is already used on {self.name}")
        with _venue_errors():
            status = self.venue.create_order(request, now)
        self._save(OutcomeUnknown)  # placed, but a restart would lose it: the caller looks it up
        return status

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        now = self._refresh(symbol)
        with _venue_errors():
            found = self._same_symbol(symbol, order_id)
            if found.state not in OPEN_STATES:  # an old order from the store
                raise OrderClosed(f"order {order_id} is {found.state} and cannot be cancelled")
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
        if found is None:
            stored = self._read(
                lambda store: store.order_by_client_id(self.name, client_order_id), None
            )
            found = None if stored is None else self.venue.status_of(stored)
        return found if found is not None and found.symbol == symbol else None

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        if symbol is not None:
            self._refresh(symbol)
        return self.venue.open_orders(symbol)

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        recent = self.venue.fills_since(symbol, since)
        horizon = self.venue.history_since
        if horizon is None or since >= horizon:
            return recent
        no_fills: list[Fill] = []
        older = self._read(
            lambda store: store.fills_between(self.name, symbol, since, horizon), no_fills
        )
        return older + [fill for fill in recent if fill.at >= horizon]

    def _same_symbol(self, symbol: str, order_id: str) -> OrderStatus:
        try:
            status = self.venue.order(order_id)
        except PaperOrderNotFound:
            stored = self._read(lambda store: store.order(self.name, order_id), None)
            if stored is None:
                raise
            status = self.venue.status_of(stored)
        if status.symbol != symbol:
            raise PaperOrderNotFound(f"there is no order {order_id} for {symbol}")
        return status

    async def positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        return []  # spot only: coins, no positions

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        raise InvalidOrder(
            f"paper venues trade spot only; {self.name} cannot set leverage for {symbol}."
        )
