"""For unit tests of reconciliation: its records in memory, and a perpetual-swap venue in memory
with reduce-only trigger legs that rest (the paper venues trade spot only; the fake Binance USD-M
takes no conditional order: ccxt sends those to the algo-order API it does not serve)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import msgspec

from app.domain.brackets.bracket import FINAL
from app.domain.market import Level, Market, MarketKind, OrderBook
from app.domain.orders import Fill, OrderKind, OrderRequest, OrderState, OrderStatus, Side
from app.domain.reconciliation import signed
from app.ports.errors import InvalidOrder, OrderNotFound
from app.ports.exchange import Balance, Capabilities, Position
from app.ports.reconciliation import KeyState, VenueRun, hold_sentence
from tests.fakes_execution import MemoryExecutionStore

D = Decimal
SWAP = Market(
    "BTC/USDT:USDT", "BTC", "USDT", kind=MarketKind.SWAP, settle="USDT",
    amount_step=D("0.001"), price_step=D("0.1"), min_amount=D("0.001"), min_cost=D(5),
)  # fmt: skip


class MemoryReconciliationStore:
    """`ReconciliationStore` and `EntryHolds` over an in-memory execution store."""

    def __init__(self, execution: MemoryExecutionStore) -> None:
        self.execution = execution
        self.kept_baselines: dict[tuple[str, str], Decimal] = {}
        self.kept: dict[tuple[str, str], KeyState] = {}
        self.kept_runs: dict[str, VenueRun] = {}

    def baselines(self, venue: str) -> dict[str, Decimal]:
        return {key: amount for (v, key), amount in self.kept_baselines.items() if v == venue}

    def record_baseline(self, venue: str, key: str, amount: Decimal, at: datetime) -> None:
        self.kept_baselines[venue, key] = amount

    def settled_positions(self, venue: str) -> dict[tuple[str, Side], Decimal]:
        found: dict[tuple[str, Side], Decimal] = {}
        for b in self.execution.brackets.values():
            if b.venue == venue and b.state in FINAL and b.position:
                found[b.symbol, b.side] = found.get((b.symbol, b.side), D(0)) + b.position
        return found

    def states(self, venue: str | None = None) -> list[KeyState]:
        return [s for s in self.kept.values() if venue in (None, s.venue)]

    def save_states(self, states: Sequence[KeyState]) -> None:
        self.kept.update({(s.venue, s.symbol): s for s in states})

    def runs(self) -> list[VenueRun]:
        return list(self.kept_runs.values())

    def save_run(self, run: VenueRun) -> None:
        self.kept_runs[run.venue] = run

    def entry_hold(self, symbol: str) -> str | None:
        for s in self.kept.values():
            if s.hold and s.symbol == symbol:
                return hold_sentence(s.venue, s.symbol, s.key, s.drift)
        return None


class SwapVenue:
    """One-way-mode perpetual swap venue: market orders fill at once at the touch and move the
    position; reduce-only stop-market and take-profit-market orders rest and fire at the touch
    when `move` crosses them (a reduce-only order that cannot reduce expires)."""

    name = "swaps"
    capabilities = Capabilities(reduce_only=True, spot_locks_resting_sells=False)
    request_expiry_seconds: float | None = None

    def __init__(self, bid: str = "49990", ask: str = "50010") -> None:
        self.bid, self.ask = D(bid), D(ask)
        self.position = D(0)  # signed, contracts
        self.entry_price = D(0)
        self.orders: dict[str, OrderStatus] = {}
        self._ids = itertools.count(1)

    async def markets(self) -> dict[str, Market]:
        return {SWAP.symbol: SWAP}

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        return OrderBook(symbol, (Level(self.bid, D(10)),), (Level(self.ask, D(10)),))

    async def balances(self) -> dict[str, Balance]:
        return {"USDT": Balance("USDT", D(10_000), D(0))}

    async def positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        if not self.position:
            return []
        return [Position(SWAP.symbol, self.position, self.entry_price)]

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        return None

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        return []

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        if any(o.client_order_id == request.client_order_id for o in self.orders.values()):
            raise InvalidOrder(f"client order id {request.client_order_id} is duplicated")
        if request.reduce_only and not self._reduces(request.side, request.amount):
            raise InvalidOrder("ReduceOnly Order is rejected.")
        status = OrderStatus(
            str(next(self._ids)), request.client_order_id, request.symbol, request.side,
            request.kind, OrderState.ACCEPTED, request.amount, trigger_price=request.trigger_price,
            reduce_only=request.reduce_only, updated_at=datetime.now(UTC),
        )  # fmt: skip
        self.orders[status.order_id] = status
        if request.kind is OrderKind.MARKET:
            self._fill(status)
        return self.orders[status.order_id]

    def _reduces(self, side: Side, amount: Decimal) -> bool:
        return bool(self.position) and (self.position > 0) == (side is Side.SELL) and (
            amount <= abs(self.position)
        )  # fmt: skip

    def _fill(self, order: OrderStatus) -> None:
        if order.reduce_only and not self._reduces(order.side, order.amount):
            self.orders[order.order_id] = msgspec.structs.replace(order, state=OrderState.EXPIRED)
            return
        price = self.ask if order.side is Side.BUY else self.bid
        if not self.position:
            self.entry_price = price
        self.position += signed(order.side, order.amount)
        self.orders[order.order_id] = msgspec.structs.replace(
            order, state=OrderState.FILLED, filled=order.amount, average_price=price, fee=D(0),
            fee_currency="USDT",
        )  # fmt: skip

    def move(self, bid: str, ask: str) -> None:
        """New prices; resting legs they reach fire at the touch."""
        self.bid, self.ask = D(bid), D(ask)
        for order in list(self.orders.values()):
            if order.state is not OrderState.ACCEPTED or order.trigger_price is None:
                continue
            touch = self.bid if order.side is Side.SELL else self.ask
            rising = (order.kind is OrderKind.TAKE_PROFIT_MARKET) == (order.side is Side.SELL)
            if (touch >= order.trigger_price) if rising else (touch <= order.trigger_price):
                self._fill(order)

    def liquidate(self) -> None:
        """The venue closes the position (the legs keep resting, as reduce-only orders that
        no longer reduce anything)."""
        self.position, self.entry_price = D(0), D(0)

    def resting(self) -> list[OrderStatus]:
        return [o for o in self.orders.values() if o.state is OrderState.ACCEPTED]

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        order = self.orders.get(order_id)
        if order is None or order.state is not OrderState.ACCEPTED:
            raise OrderNotFound(f"Unknown order {order_id}")
        self.orders[order_id] = msgspec.structs.replace(order, state=OrderState.CANCELLED)
        return self.orders[order_id]

    async def fetch_order(self, symbol: str, order_id: str) -> OrderStatus:
        if order_id not in self.orders:
            raise OrderNotFound(f"Order {order_id} does not exist")
        return self.orders[order_id]

    async def fetch_order_by_client_id(
        self, symbol: str, client_order_id: str
    ) -> OrderStatus | None:
        return next((o for o in self.orders.values() if o.client_order_id == client_order_id), None)

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        return self.resting()
