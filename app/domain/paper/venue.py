"""The paper venue: a deterministic, in-process matching engine for spot markets.

Pure: no clock (every call takes `now`), no I/O. Orders match against the last order book given
to `on_book`; our own fills do not deplete that book (each new book is fresh liquidity, and an
unchanged book brings none). Fees are charged in the quote currency on buys and sells alike.
Spot only for now: no positions, no reduce-only.

The records live in a `PaperLedger`, which tracks what changed for an incremental save
(`changes()`) and forgets old history on request (`prune()`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from app.domain.market import Level, Market, MarketKind, OrderBook, Tick
from app.domain.orders import (
    Fill,
    OrderKind,
    OrderRequest,
    OrderState,
    OrderStatus,
    Side,
    transition,
)
from app.domain.paper.ledger import PaperLedger
from app.domain.paper.rules import (
    check_cost,
    order_amount,
    order_price,
    round_to,
    short,
    triggered,
    truncate,
    walk,
)
from app.domain.paper.state import (
    DEFAULT_BALANCES,
    OPEN_STATES,
    DuplicateClientOrderId,
    InsufficientPaperFunds,
    InvalidPaperOrder,
    OrderClosed,
    PaperBalance,
    PaperChanges,
    PaperOrder,
    PaperOrderNotFound,
    PaperRejection,
    PaperState,
    copy_state,
)

__all__ = [
    "DEFAULT_BALANCES",
    "OPEN_STATES",
    "DuplicateClientOrderId",
    "InsufficientPaperFunds",
    "InvalidPaperOrder",
    "OrderClosed",
    "PaperBalance",
    "PaperChanges",
    "PaperOrder",
    "PaperOrderNotFound",
    "PaperRejection",
    "PaperState",
    "PaperVenue",
    "round_to",
    "truncate",
]

_ZERO = Decimal(0)
_BUY = Side.BUY
_S = OrderState


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
        kind = request.kind
        if kind is OrderKind.MARKET:
            placed = self._market_order(request, market, amount, now)
        elif kind is OrderKind.LIMIT:
            placed = self._limit_order(request, market, amount, now)
        else:
            placed = self._trigger_order(request, market, amount, now)
        self._ledger.touch(placed)
        return self._status(placed)

    def cancel_order(self, order_id: str, now: datetime) -> OrderStatus:
        order = self._ledger.orders.get(order_id)
        if order is None:
            raise PaperOrderNotFound(f"there is no order {order_id} on {self.name}")
        if order.state not in OPEN_STATES:
            raise OrderClosed(f"order {order_id} is {order.state} and cannot be cancelled")
        self._ledger.release(order, self._markets[order.symbol])
        self._close(order, _S.CANCELLED, now)
        self._ledger.touch(order)
        return self._status(order)

    # --- market data -----------------------------------------------------------------------

    def on_book(self, book: OrderBook, now: datetime) -> list[OrderStatus]:
        """Take a new book: fill crossed resting limits (maker) and fire triggered stops.

        Returns the orders that changed, in time priority.
        """
        previous = self._books.get(book.symbol)
        self._books[book.symbol] = book
        resting = self._ledger.resting.get(book.symbol)
        if not resting or book is previous or book == previous:
            return []
        bid, ask = book.best_bid, book.best_ask
        changed = []
        for order in list(resting.values()):
            is_buy = order.side is _BUY
            if order.kind is OrderKind.LIMIT:
                limit = order.price
                assert limit is not None
                levels = book.asks if is_buy else book.bids
                depth = sum(
                    (
                        lv.amount
                        for lv in levels
                        if (lv.price <= limit if is_buy else lv.price >= limit)
                    ),
                    _ZERO,
                )
                if not depth:
                    continue
                self._maker_fill(order, min(depth, order.amount - order.filled), now)
            else:
                reference = ask if is_buy else bid
                if reference is None or not triggered(order, reference):
                    continue
                self._fire(order, book.asks if is_buy else book.bids, now)
            self._ledger.touch(order)
            changed.append(self._status(order))
        return changed

    def on_tick(self, tick: Tick, now: datetime) -> list[OrderStatus]:
        """Take a trade price: limits it crosses fill in full (maker), stops it crosses fire
        against the last book (or at the tick price when there is none)."""
        resting = self._ledger.resting.get(tick.symbol)
        if not resting:
            return []
        price = tick.price
        book = self._books.get(tick.symbol)
        changed = []
        for order in list(resting.values()):
            is_buy = order.side is _BUY
            if order.kind is OrderKind.LIMIT:
                limit = order.price
                assert limit is not None
                if price > limit if is_buy else price < limit:
                    continue
                self._maker_fill(order, order.amount - order.filled, now)
            else:
                if not triggered(order, price):
                    continue
                levels: Sequence[Level]
                if book is None:
                    levels = (Level(price, order.amount - order.filled),)
                else:
                    levels = book.asks if is_buy else book.bids
                self._fire(order, levels, now)
            self._ledger.touch(order)
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

    def prune(self, before: datetime) -> int:
        """Forget closed orders last changed, and fills made, before `before` (a store keeps
        them); open orders always stay. Returns how many orders and fills were forgotten."""
        return self._ledger.prune(before)

    # --- internals -------------------------------------------------------------------------

    def _ensure_funds(
        self, market: Market, is_buy: bool, amount: Decimal, quote_needed: Decimal
    ) -> None:
        """A buy needs `quote_needed` of the quote currency free; a sell `amount` of the base."""
        wallet = self._ledger.peek(market.quote if is_buy else market.base)
        needed = quote_needed if is_buy else amount
        if wallet.free < needed:
            raise short(wallet, needed)

    def _market_order(
        self, request: OrderRequest, market: Market, amount: Decimal, now: datetime
    ) -> PaperOrder:
        book = self._books.get(market.symbol)
        if book is None:
            raise InvalidPaperOrder(f"there is no order book for {market.symbol} yet")
        is_buy = request.side is _BUY
        levels = book.asks if is_buy else book.bids
        if levels:
            check_cost(market, amount, levels[0].price)
        matches, _, cost = walk(levels, amount, None, is_buy)
        self._ensure_funds(market, is_buy, amount, cost + cost * market.taker_fee)
        order = self._new_order(request, amount, None, None, now)
        self._ledger.take(order, market, matches, now)
        self._finish_taking(order, now)
        return order

    def _limit_order(
        self, request: OrderRequest, market: Market, amount: Decimal, now: datetime
    ) -> PaperOrder:
        price = order_price(request.price, "limit price", market, amount)
        is_buy = request.side is _BUY
        book = self._books.get(market.symbol)
        levels: Sequence[Level] = () if book is None else (book.asks if is_buy else book.bids)
        matches, filled, cost = walk(levels, amount, price, is_buy)
        rest_notional = (amount - filled) * price
        hold = rest_notional + rest_notional * market.maker_fee if is_buy else amount - filled
        self._ensure_funds(market, is_buy, amount, cost + cost * market.taker_fee + hold)
        order = self._new_order(request, amount, price, None, now)
        if matches:
            self._ledger.take(order, market, matches, now)
        if order.filled == amount:
            order.state = transition(order.state, _S.FILLED)
            self._ledger.closed(order)
            return order
        self._ledger.hold(order, market.quote if is_buy else market.base, hold)
        order.state = transition(order.state, _S.PARTIALLY_FILLED if matches else _S.ACCEPTED)
        return order

    def _trigger_order(
        self, request: OrderRequest, market: Market, amount: Decimal, now: datetime
    ) -> PaperOrder:
        trigger = order_price(request.trigger_price, "trigger price", market, amount)
        is_buy = request.side is _BUY
        order = self._new_order(request, amount, None, trigger, now, keep=False)
        book = self._books.get(market.symbol)
        if book is not None:
            reference = book.best_ask if is_buy else book.best_bid
            if reference is not None and triggered(order, reference):
                raise InvalidPaperOrder(
                    f"the trigger price {trigger} would trigger immediately at {reference}"
                )
        if is_buy:
            notional = amount * trigger
            hold, asset = notional + notional * market.taker_fee, market.quote
        else:
            hold, asset = amount, market.base
        if self._ledger.peek(asset).free < hold:
            raise short(self._ledger.peek(asset), hold)
        self._ledger.keep(order)
        self._ledger.hold(order, asset, hold)
        order.state = transition(order.state, _S.ACCEPTED)
        return order

    def _fire(self, order: PaperOrder, levels: Sequence[Level], now: datetime) -> None:
        """A triggered stop: release its hold and fill like a market order; what cannot fill
        (depth or funds) expires."""
        market = self._markets[order.symbol]
        self._ledger.release(order, market)
        matches, _, cost = walk(levels, order.amount - order.filled, None, order.side is _BUY)
        if (
            order.side is _BUY
            and self._ledger.peek(market.quote).free < cost + cost * market.taker_fee
        ):
            matches = []
        self._ledger.take(order, market, matches, now)
        self._finish_taking(order, now)

    def _maker_fill(self, order: PaperOrder, size: Decimal, now: datetime) -> None:
        """A resting limit filled at its own price, paid from its hold."""
        market = self._markets[order.symbol]
        self._ledger.make(order, market, size, now)
        if order.filled == order.amount:
            self._ledger.release(
                order, market
            )  # nothing is left when the arithmetic is exact; be sure
            self._close(order, _S.FILLED, now)
        else:
            order.state = transition(order.state, _S.PARTIALLY_FILLED)

    def _finish_taking(self, order: PaperOrder, now: datetime) -> None:
        """After a market-style fill: filled, or the rest expires (IOC, as venues do)."""
        if order.filled == order.amount:
            self._close(order, _S.FILLED, now)
            return
        if order.filled:
            order.state = transition(order.state, _S.PARTIALLY_FILLED)
        self._close(order, _S.EXPIRED, now)

    def _close(self, order: PaperOrder, state: OrderState, now: datetime) -> None:
        order.state = transition(order.state, state)
        order.updated_at = now
        self._ledger.closed(order)

    def _new_order(
        self,
        request: OrderRequest,
        amount: Decimal,
        price: Decimal | None,
        trigger: Decimal | None,
        now: datetime,
        *,
        keep: bool = True,
    ) -> PaperOrder:
        order = PaperOrder(
            str(self._ledger.next_order_number),
            request.client_order_id,
            request.symbol,
            request.side,
            request.kind,
            amount,
            _S.SUBMITTED,
            now,
            now,
            price,
            trigger,
        )
        if keep:
            self._ledger.keep(order)
        return order

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
