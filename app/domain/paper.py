"""The paper venue: a deterministic, in-process matching engine for spot markets.

Pure: no clock (every call takes `now`), no I/O. Orders match against the last order book given
to `on_book`; our own fills do not deplete that book (each new book is fresh liquidity, and an
unchanged book brings none). Fees are charged in the quote currency on buys and sells alike.
Spot only for now: no positions, no reduce-only.
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
from app.domain.paper_rules import (
    check_cost,
    order_amount,
    order_price,
    round_to,
    short,
    triggered,
    truncate,
    walk,
)
from app.domain.paper_state import (
    DEFAULT_BALANCES,
    OPEN_STATES,
    DuplicateClientOrderId,
    InsufficientPaperFunds,
    InvalidPaperOrder,
    OrderClosed,
    PaperBalance,
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
        self._wallets = {asset: PaperBalance(asset, Decimal(free)) for asset, free in start.items()}
        self._orders: dict[str, PaperOrder] = {}
        self._by_client_id: dict[str, PaperOrder] = {}
        self._resting: dict[str, dict[str, PaperOrder]] = {}  # symbol -> id -> order, by time
        self._books: dict[str, OrderBook] = {}
        self._fills: list[Fill] = []
        self._next_order_number = 1

    # --- reading ---------------------------------------------------------------------------

    @property
    def markets(self) -> dict[str, Market]:
        return dict(self._markets)

    def balances(self) -> dict[str, PaperBalance]:
        return {a: PaperBalance(a, w.free, w.reserved) for a, w in self._wallets.items()}

    def book(self, symbol: str) -> OrderBook | None:
        return self._books.get(symbol)

    def order(self, order_id: str) -> OrderStatus:
        found = self._orders.get(order_id)
        if found is None:
            raise PaperOrderNotFound(f"there is no order {order_id} on {self.name}")
        return self._status(found)

    def order_by_client_id(self, client_order_id: str) -> OrderStatus | None:
        found = self._by_client_id.get(client_order_id)
        return None if found is None else self._status(found)

    def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        books = [self._resting.get(symbol, {})] if symbol else list(self._resting.values())
        return [self._status(order) for resting in books for order in resting.values()]

    def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        return [f for f in self._fills if f.symbol == symbol and f.at >= since]

    # --- placing and cancelling ------------------------------------------------------------

    def create_order(self, request: OrderRequest, now: datetime) -> OrderStatus:
        """Place an order; raises a `PaperRejection` (and keeps nothing) when the venue refuses."""
        market = self._markets.get(request.symbol)
        if market is None or not market.active or market.kind is not MarketKind.SPOT:
            raise InvalidPaperOrder(f"{request.symbol} is not a spot market on {self.name}")
        if request.client_order_id in self._by_client_id:
            raise DuplicateClientOrderId(
                f"client order id {request.client_order_id} is already used on {self.name}"
            )
        if request.reduce_only:
            raise InvalidPaperOrder("reduce-only orders need a swap market; this venue is spot")
        amount = order_amount(request.amount, market)
        kind = request.kind
        if kind is OrderKind.MARKET:
            return self._market_order(request, market, amount, now)
        if kind is OrderKind.LIMIT:
            return self._limit_order(request, market, amount, now)
        return self._trigger_order(request, market, amount, now)

    def cancel_order(self, order_id: str, now: datetime) -> OrderStatus:
        order = self._orders.get(order_id)
        if order is None:
            raise PaperOrderNotFound(f"there is no order {order_id} on {self.name}")
        if order.state not in OPEN_STATES:
            raise OrderClosed(f"order {order_id} is {order.state} and cannot be cancelled")
        self._release(order)
        self._close(order, _S.CANCELLED, now)
        return self._status(order)

    # --- market data -----------------------------------------------------------------------

    def on_book(self, book: OrderBook, now: datetime) -> list[OrderStatus]:
        """Take a new book: fill crossed resting limits (maker) and fire triggered stops.

        Returns the orders that changed, in time priority.
        """
        previous = self._books.get(book.symbol)
        self._books[book.symbol] = book
        resting = self._resting.get(book.symbol)
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
            changed.append(self._status(order))
        return changed

    def on_tick(self, tick: Tick, now: datetime) -> list[OrderStatus]:
        """Take a trade price: limits it crosses fill in full (maker), stops it crosses fire
        against the last book (or at the tick price when there is none)."""
        resting = self._resting.get(tick.symbol)
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
            changed.append(self._status(order))
        return changed

    # --- state -----------------------------------------------------------------------------

    def snapshot(self) -> PaperState:
        """A deep copy of everything the venue holds, ready to persist."""
        state = PaperState(
            name=self.name,
            markets=tuple(self._markets.values()),
            balances=tuple(self._wallets.values()),
            orders=tuple(self._orders.values()),
            fills=tuple(self._fills),
            next_order_number=self._next_order_number,
        )
        return copy_state(state)

    @classmethod
    def restore(cls, state: PaperState) -> PaperVenue:
        state = copy_state(state)  # share nothing with the caller
        venue = cls(state.name, state.markets, {})
        venue._wallets = {w.asset: w for w in state.balances}
        for order in state.orders:
            venue._orders[order.order_id] = order
            venue._by_client_id[order.client_order_id] = order
            if order.state in OPEN_STATES:
                venue._resting.setdefault(order.symbol, {})[order.order_id] = order
        venue._fills = list(state.fills)
        venue._next_order_number = state.next_order_number
        return venue

    # --- internals -------------------------------------------------------------------------

    def _ensure_funds(
        self, market: Market, is_buy: bool, amount: Decimal, quote_needed: Decimal
    ) -> None:
        """A buy needs `quote_needed` of the quote currency free; a sell `amount` of the base."""
        wallet = self._wallet(market.quote if is_buy else market.base)
        needed = quote_needed if is_buy else amount
        if wallet.free < needed:
            raise short(wallet, needed)

    def _market_order(
        self, request: OrderRequest, market: Market, amount: Decimal, now: datetime
    ) -> OrderStatus:
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
        self._take(order, market, matches, now)
        self._finish_taking(order, now)
        return self._status(order)

    def _limit_order(
        self, request: OrderRequest, market: Market, amount: Decimal, now: datetime
    ) -> OrderStatus:
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
            self._take(order, market, matches, now)
        if order.filled == amount:
            order.state = transition(order.state, _S.FILLED)
            return self._status(order)
        self._hold(order, self._wallet(market.quote if is_buy else market.base), hold)
        order.state = transition(order.state, _S.PARTIALLY_FILLED if matches else _S.ACCEPTED)
        return self._status(order)

    def _trigger_order(
        self, request: OrderRequest, market: Market, amount: Decimal, now: datetime
    ) -> OrderStatus:
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
            hold, wallet = notional + notional * market.taker_fee, self._wallet(market.quote)
        else:
            hold, wallet = amount, self._wallet(market.base)
        if wallet.free < hold:
            raise short(wallet, hold)
        self._keep(order)
        self._hold(order, wallet, hold)
        order.state = transition(order.state, _S.ACCEPTED)
        return self._status(order)

    def _fire(self, order: PaperOrder, levels: Sequence[Level], now: datetime) -> None:
        """A triggered stop: release its hold and fill like a market order; what cannot fill
        (depth or funds) expires."""
        market = self._markets[order.symbol]
        self._release(order)
        matches, _, cost = walk(levels, order.amount - order.filled, None, order.side is _BUY)
        if order.side is _BUY and self._wallet(market.quote).free < cost + cost * market.taker_fee:
            matches = []
        self._take(order, market, matches, now)
        self._finish_taking(order, now)

    def _take(
        self,
        order: PaperOrder,
        market: Market,
        matches: list[tuple[Decimal, Decimal]],
        now: datetime,
    ) -> None:
        """Taker fills: one per level, balances moved from free."""
        if not matches:
            return
        fee_rate = market.taker_fee
        filled, cost, fee = self._record(order, market, matches, fee_rate, now, maker=False)
        base, quote = self._wallet(market.base), self._wallet(market.quote)
        if order.side is _BUY:
            quote.free -= cost + fee
            base.free += filled
        else:
            base.free -= filled
            quote.free += cost - fee

    def _maker_fill(self, order: PaperOrder, size: Decimal, now: datetime) -> None:
        """A resting limit filled at its own price, paid from its hold."""
        market = self._markets[order.symbol]
        price = order.price
        assert price is not None
        filled, cost, fee = self._record(
            order, market, [(price, size)], market.maker_fee, now, maker=True
        )
        base, quote = self._wallet(market.base), self._wallet(market.quote)
        if order.side is _BUY:
            spent = cost + fee
            quote.reserved -= spent
            order.reserved -= spent
            base.free += filled
        else:
            base.reserved -= filled
            order.reserved -= filled
            quote.free += cost - fee
        if order.filled == order.amount:
            self._release(order)  # nothing is left when the arithmetic is exact; be sure
            self._close(order, _S.FILLED, now)
        else:
            order.state = transition(order.state, _S.PARTIALLY_FILLED)

    def _record(
        self,
        order: PaperOrder,
        market: Market,
        matches: list[tuple[Decimal, Decimal]],
        fee_rate: Decimal,
        now: datetime,
        *,
        maker: bool,
    ) -> tuple[Decimal, Decimal, Decimal]:
        filled = cost = fee = _ZERO
        append = self._fills.append
        for price, size in matches:
            notional = price * size
            charge = notional * fee_rate
            append(
                Fill(
                    order.order_id,
                    order.client_order_id,
                    order.symbol,
                    order.side,
                    price,
                    size,
                    charge,
                    market.quote,
                    now,
                    maker,
                )
            )
            filled += size
            cost += notional
            fee += charge
        order.filled += filled
        order.cost += cost
        order.fee += fee
        order.updated_at = now
        return filled, cost, fee

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
        resting = self._resting.get(order.symbol)
        if resting:
            resting.pop(order.order_id, None)

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
            str(self._next_order_number),
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
            self._keep(order)
        return order

    def _keep(self, order: PaperOrder) -> None:
        self._next_order_number += 1
        self._orders[order.order_id] = order
        self._by_client_id[order.client_order_id] = order

    def _hold(self, order: PaperOrder, wallet: PaperBalance, amount: Decimal) -> None:
        wallet.free -= amount
        wallet.reserved += amount
        order.reserved = amount
        self._resting.setdefault(order.symbol, {})[order.order_id] = order

    def _release(self, order: PaperOrder) -> None:
        if not order.reserved:
            return
        market = self._markets[order.symbol]
        wallet = self._wallet(market.quote if order.side is _BUY else market.base)
        wallet.reserved -= order.reserved
        wallet.free += order.reserved
        order.reserved = _ZERO

    def _wallet(self, asset: str) -> PaperBalance:
        wallet = self._wallets.get(asset)
        if wallet is None:
            wallet = self._wallets[asset] = PaperBalance(asset)
        return wallet

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
