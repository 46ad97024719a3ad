"""The paper venue: a deterministic, in-process matching engine for spot markets.

Pure: no clock (every call takes `now`), no I/O. Orders match against the last order book given
to `on_book`; our own fills do not deplete that book (each new book is fresh liquidity, and an
unchanged book brings none). Fees are charged in the quote currency on buys and sells alike.
Spot only for now: no positions, no reduce-only.

The records live in a `PaperLedger`, which tracks what changed for an incremental save
(`changes()`) and forgets old history on request (`prune()`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from app.domain.market import Market, MarketKind, OrderBook, Tick
from app.domain.orders import Fill, OrderKind, OrderRequest, OrderState, OrderStatus
from app.domain.paper.entry import NewOrder, enter
from app.domain.paper.fills import close, fire, make
from app.domain.paper.ledger import PaperLedger
from app.domain.paper.matching import BookPrices, Prices, TickPrices
from app.domain.paper.rules import order_amount
from app.domain.paper.state import (
    DEFAULT_BALANCES,
    OPEN_STATES,
    DuplicateClientOrderId,
    InvalidPaperOrder,
    OrderClosed,
    PaperBalance,
    PaperChanges,
    PaperOrder,
    PaperOrderNotFound,
    PaperState,
    copy_state,
)


class PaperVenue:
    """One paper venue: markets, balances, orders and fills, matched against given books."""

    def __init__(
        self,
        name: str,
        markets: Iterable[Market],
        balances: Mapping[str, Decimal] | None = None,
    ) -> None:
        self.name = name
        self._markets = {market.symbol: market for market in markets}
        start = DEFAULT_BALANCES if balances is None else balances
        self._ledger = PaperLedger(
            PaperBalance(asset, Decimal(free)) for asset, free in start.items()
        )
        self._books: dict[str, OrderBook] = {}

    # --- reading ---------------------------------------------------------------------------

    @property
    def markets(self) -> dict[str, Market]:
        return dict(self._markets)

    def lists(self, symbol: str) -> bool:
        return symbol in self._markets

    def balances(self) -> dict[str, PaperBalance]:
        return {a: PaperBalance(a, w.free, w.reserved) for a, w in self._ledger.wallets.items()}

    def book(self, symbol: str) -> OrderBook | None:
        return self._books.get(symbol)

    def order(self, order_id: str) -> OrderStatus:
        found = self._ledger.orders.get(order_id)
        if found is None:
            raise PaperOrderNotFound(f"there is no order {order_id} on {self.name}")
        return self._status(found)

    def order_by_client_id(self, client_order_id: str) -> OrderStatus | None:
        found = self._ledger.by_client_id.get(client_order_id)
        return None if found is None else self._status(found)

    def has_resting(self, symbol: str) -> bool:
        """Whether any order of `symbol` rests (waits for a price)."""
        return bool(self._ledger.resting.get(symbol))

    def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        resting = self._ledger.resting
        books = [resting.get(symbol, {})] if symbol else list(resting.values())
        return [self._status(order) for orders in books for order in orders.values()]

    def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        """The fills in memory (see `history_since`) on `symbol` from `since` on."""
        return [f for f in self._ledger.fills if f.symbol == symbol and f.at >= since]

    @property
    def history_since(self) -> datetime | None:
        """None when memory holds every order and fill this venue had; else the time from
        which it holds the closed orders and fills (older ones were pruned or not loaded)."""
        return self._ledger.history_since

    def status_of(self, order: PaperOrder) -> OrderStatus:
        """The status of an order of this venue, also one kept elsewhere (a store)."""
        return self._status(order)

    # --- placing and cancelling ------------------------------------------------------------

    def create_order(self, request: OrderRequest, now: datetime) -> OrderStatus:
        """Place an order; raises a `PaperRejection` (and keeps nothing) when the venue refuses."""
        market = self._markets.get(request.symbol)
        if market is None or not market.active or market.kind is not MarketKind.SPOT:
            raise InvalidPaperOrder(f"{request.symbol} is not a spot market on {self.name}")
        if request.client_order_id in self._ledger.by_client_id:
            raise DuplicateClientOrderId(
                f"client order id {request.client_order_id} is already used on {self.name}"
            )
        if request.reduce_only:
            raise InvalidPaperOrder("reduce-only orders need a swap market; this venue is spot")
        amount = order_amount(request.amount, market)
        new = NewOrder(request, market, amount, self._books.get(market.symbol), now)
        placed = enter(self._ledger, new)
        self._ledger.touch(placed)
        return self._status(placed)

    def cancel_order(self, order_id: str, now: datetime) -> OrderStatus:
        order = self._ledger.orders.get(order_id)
        if order is None:
            raise PaperOrderNotFound(f"there is no order {order_id} on {self.name}")
        if order.state not in OPEN_STATES:
            raise OrderClosed(f"order {order_id} is {order.state} and cannot be cancelled")
        self._ledger.release(order, self._markets[order.symbol])
        close(self._ledger, order, OrderState.CANCELLED, now)
        self._ledger.touch(order)
        return self._status(order)

    # --- market data -----------------------------------------------------------------------

    def on_book(self, book: OrderBook, now: datetime) -> list[OrderStatus]:
        """Take a new book: fill crossed resting limits (maker) and fire triggered stops.

        Returns the orders that changed, in time priority.
        """
        previous = self._books.get(book.symbol)
        self._books[book.symbol] = book
        if not self._ledger.resting.get(book.symbol) or book is previous or book == previous:
            return []
        return self._match(book.symbol, BookPrices(book), now)

    def on_tick(self, tick: Tick, now: datetime) -> list[OrderStatus]:
        """Take a trade price: limits it crosses fill in full (maker), stops it crosses fire
        against the last book (or at the tick price when there is none)."""
        if not self._ledger.resting.get(tick.symbol):
            return []
        return self._match(tick.symbol, TickPrices(tick.price, self._books.get(tick.symbol)), now)

    def _match(self, symbol: str, prices: Prices, now: datetime) -> list[OrderStatus]:
        """The resting orders of `symbol` (some) against new `prices`: those that changed, in time
        priority."""
        resting = self._ledger.resting[symbol]
        ledger, market = self._ledger, self._markets[symbol]
        maker_size, stop_levels = prices.maker_size, prices.stop_levels
        changed = []
        for order in list(resting.values()):
            if order.kind is OrderKind.LIMIT:
                size = maker_size(order)
                if size is None:
                    continue
                make(ledger, order, market, size, now)
            else:
                levels = stop_levels(order)
                if levels is None:
                    continue
                fire(ledger, order, market, levels, now)
            ledger.touch(order)
            changed.append(self._status(order))
        return changed

    # --- state -----------------------------------------------------------------------------

    def snapshot(self) -> PaperState:
        """A deep copy of everything the venue holds, ready to persist."""
        ledger = self._ledger
        state = PaperState(
            name=self.name,
            markets=tuple(self._markets.values()),
            balances=tuple(ledger.wallets.values()),
            orders=tuple(ledger.orders.values()),
            fills=tuple(ledger.fills),
            next_order_number=ledger.next_order_number,
            history_since=ledger.history_since,
        )
        return copy_state(state)

    @classmethod
    def restore(cls, state: PaperState) -> PaperVenue:
        """The venue `state` describes, with nothing to save: it came from a store (or a
        snapshot)."""
        state = copy_state(state)  # share nothing with the caller
        venue = cls(state.name, state.markets, {})
        venue._ledger = ledger = PaperLedger(
            state.balances,
            state.next_order_number,
            saved=True,
            history_since=state.history_since,
        )
        ledger.restore(state.orders, state.fills)
        return venue

    def changes(self) -> PaperChanges:
        """What changed since the last call (or since the venue was made): the rows to save.

        The tracking starts afresh; give the changes back with `requeue` if the save fails.
        """
        return self._ledger.changes(self._markets.values())

    def requeue(self, changes: PaperChanges) -> None:
        """Take back changes a failed save did not keep, so the next `changes()` has them."""
        self._ledger.requeue(changes)

    @property
    def history_size(self) -> int:
        """Closed orders and fills in memory (open orders are not counted)."""
        return self._ledger.history_size

    def prune(self, before: datetime, keep: int | None = None) -> int:
        """Forget closed orders last changed, and fills made, before `before` (a store keeps
        them), and, with `keep`, all but about the newest `keep` of each; open orders always
        stay. Returns how many orders and fills were forgotten."""
        cut = None if keep is None else self._ledger.cut_keeping(keep)
        return self._ledger.prune(before if cut is None else max(before, cut))

    def _status(self, order: PaperOrder) -> OrderStatus:
        filled = order.filled
        return OrderStatus(
            order.order_id,
            order.client_order_id,
            order.symbol,
            order.side,
            order.kind,
            order.state,
            order.amount,
            filled,
            order.cost / filled if filled else None,
            order.price,
            order.trigger_price,
            order.fee,
            self._markets[order.symbol].quote,
            False,
            order.updated_at,
        )
