"""What every venue fake shares: an in-memory matching engine (markets, books, balances, swap
positions, orders and conditional orders) and the test controls (faults, hooks, request counts).

A venue's fake (`tests/venues/<venue>.py`) subclasses `FakeVenue` with its dialect only: its
routes, signature check, answer shapes and error codes. The engine refuses an order with a
`Refusal` naming a generic `reason`; the dialect turns it into the venue's own error (its
`ERRORS` table), so each venue's quirks are data beside the behaviour they share.

Units: an order's and a position's amount are in the venue's unit (contracts for a swap whose
`contract_size` is not 1); money (cost, fees, balances) is in the quote currency.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

Json = dict[str, Any] | list[Any]
Book = tuple[Decimal, Decimal]  # best bid, best ask
Answer = tuple[int, Json | str]
D = Decimal
ZERO, ONE = Decimal(0), Decimal(1)

# order kinds the engine knows; a dialect maps its own type names onto them
MARKET, LIMIT = "market", "limit"
STOP, TAKE_PROFIT = "stop", "take_profit"  # trigger, then a market order
STOP_LIMIT, TAKE_PROFIT_LIMIT = "stop_limit", "take_profit_limit"  # trigger, then a limit order
CONDITIONAL = (STOP, TAKE_PROFIT, STOP_LIMIT, TAKE_PROFIT_LIMIT)
# order statuses
OPEN, FILLED, CANCELED, REJECTED = "open", "filled", "canceled", "rejected"


class Refusal(Exception):
    """The engine refuses a request; `reason` is one of the keys every dialect's ERRORS maps:
    symbol, amount_step, min_amount, price_step, min_notional, funds, duplicate, would_trigger,
    reduce_only, not_found, not_open, leverage, position_mode."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class VenueError(Exception):
    """A dialect's own error answer, raised anywhere in a route."""

    def __init__(self, status: int, body: Json | str) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


@dataclass(frozen=True)
class MarketSpec:
    """One market, in the venue's own terms."""

    id: str  # the venue's symbol: BTCUSDT, BTC-USDT-SWAP, XBTUSDT...
    base: str
    quote: str
    tick: Decimal
    step: Decimal  # amount step, in the venue's unit
    min_amount: Decimal  # in the venue's unit
    min_notional: Decimal  # in the quote currency
    bid: Decimal
    ask: Decimal
    swap: bool = False
    contract_size: Decimal = ONE  # coins per contract (swaps)
    max_leverage: int = 100


@dataclass
class Order:
    id: str
    client_id: str
    symbol: str  # MarketSpec.id
    side: str  # "buy" | "sell"
    kind: str
    amount: Decimal  # the venue's unit
    price: Decimal | None = None
    trigger: Decimal | None = None
    reduce_only: bool = False
    status: str = OPEN
    filled: Decimal = ZERO
    cost: Decimal = ZERO  # quote currency
    fee: Decimal = ZERO
    triggered: bool = False  # a conditional order whose trigger fired
    created_ms: int = 0
    updated_ms: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # the dialect's own fields

    @property
    def average(self) -> Decimal | None:
        return None if self.filled == 0 else self.cost / self.filled / self._size

    @property
    def conditional(self) -> bool:
        return self.kind in CONDITIONAL

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    _size: Decimal = ONE  # the market's contract size, set by the engine


@dataclass
class Trade:
    id: str
    order_id: str
    symbol: str
    side: str
    price: Decimal
    amount: Decimal  # the venue's unit
    fee: Decimal
    maker: bool
    at_ms: int


@dataclass
class Position:
    amount: Decimal = ZERO  # signed, in the venue's unit
    entry: Decimal = ZERO


@dataclass
class Fault:
    op: str
    kind: str  # "429" | "5xx" | "hang" | "create_then_hang" | "slow"
    count: int


@dataclass
class Hook:
    op: str
    action: Callable[[], None]


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: str


@dataclass
class FakeVenue:
    """The engine, its controls and the dispatch; subclasses give the dialect.

    Subclasses set `OPS` (a logical operation -> the (method, path) pairs that perform it; the
    road tests speak of "create", "fetch", "cancel", "open_orders") and implement `route`,
    `refused` and `rate_limited`."""

    OPS: ClassVar[dict[str, tuple[tuple[str, str], ...]]] = {}
    FEE_RATE: ClassVar[Decimal] = D("0.001")

    specs: list[MarketSpec] = field(default_factory=list)
    balances: dict[str, list[Decimal]] = field(default_factory=dict)  # asset -> [free, locked]
    # how long a hung request is held before its connection is dropped unanswered: well under
    # any client's timeout, so that the answer is lost by the fake's doing, however slow the
    # machine (a client timing out first is a race with the machine's speed)
    hang_seconds: float = 0.1
    hedge_mode: bool = False  # swaps: long and short positions kept apart
    markets: dict[str, MarketSpec] = field(init=False)
    books: dict[str, tuple[Decimal, Decimal]] = field(init=False)
    last: dict[str, Decimal] = field(init=False)
    orders: dict[str, Order] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    creates: list[str] = field(default_factory=list)  # the client id of every create received
    faults: list[Fault] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)
    partial_next: dict[str, Decimal] = field(default_factory=dict)  # client id -> fill at most
    # called with each order the engine changed (placed, filled, triggered, cancelled), under
    # the lock: the private streams (tests/venues/streams.py) turn it into the venue's events
    watchers: list[Callable[[Order], None]] = field(default_factory=list)
    # called with a symbol's book before and after each move, under the lock (`book_ids` counts
    # the moves): the public streams turn it into the venue's depth updates
    book_watchers: list[Callable[[str, Book, Book], None]] = field(default_factory=list)
    book_ids: dict[str, int] = field(init=False)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    lock: threading.RLock = field(default_factory=threading.RLock)
    _release: threading.Event = field(default_factory=threading.Event)
    _local: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        self.markets = {spec.id: spec for spec in self.specs}
        self.books = {spec.id: (spec.bid, spec.ask) for spec in self.specs}
        self.last = {spec.id: (spec.bid + spec.ask) / 2 for spec in self.specs}
        self.book_ids = dict.fromkeys(self.markets, 1)

    # --- test controls ---------------------------------------------------------------------

    def fail_next(self, op: str, kind: str, count: int = 1) -> None:
        """The next `count` requests of `op` answer 429 or a 5xx, hang, or (create) act and
        then never answer (`create_then_hang`) or answer late (`slow`)."""
        assert op in self.OPS, op
        with self.lock:
            self.faults.append(Fault(op, kind, count))

    def before_next(self, op: str, action: Callable[[], None]) -> None:
        """Run `action` just before the next `op` request is handled (a race)."""
        assert op in self.OPS, op
        with self.lock:
            self.hooks.append(Hook(op, action))

    def count(self, op: str) -> int:
        pairs = self.OPS[op]
        with self.lock:
            return sum(1 for request in self.requests if request in pairs)

    def release_hung(self) -> None:
        self._release.set()

    def set_price(
        self, symbol: str, bid: Decimal, ask: Decimal, last: Decimal | None = None
    ) -> None:
        """Move the book (and the last price, default the mid); orders it reaches fill."""
        with self.lock:
            before = self.books[symbol]
            self.books[symbol] = (bid, ask)
            self.last[symbol] = last if last is not None else (bid + ask) / 2
            self.book_ids[symbol] += 1
            for watcher in list(self.book_watchers):
                watcher(symbol, before, (bid, ask))
            self._match(symbol)

    def fill_partially(self, client_id: str, amount: Decimal) -> None:
        """Fill `amount` (the venue's unit) of a resting limit order at its price."""
        with self.lock:
            (order,) = [o for o in self.orders.values() if o.client_id == client_id]
            assert (order.status, order.kind) == (OPEN, LIMIT)
            assert order.price is not None
            self._execute(order, min(amount, order.remaining), order.price, maker=True)
            self.changed(order)

    def with_client_id(self, client_id: str) -> list[Order]:
        with self.lock:
            return [o for o in self.orders.values() if o.client_id == client_id]

    def held(self, asset: str) -> Decimal:
        free, locked = self.balances.get(asset, [D(0), D(0)])
        return free + locked

    # --- dispatch ----------------------------------------------------------------------------

    def op_of(self, method: str, path: str) -> str | None:
        for op, pairs in self.OPS.items():
            if (method, path) in pairs:
                return op
        return None

    def creating(self) -> str | None:
        """The client order id of the create this thread handles (for a hook)."""
        found: str | None = getattr(self._local, "creating", None)
        return found

    def handle(self, request: Request) -> Answer | None:
        """The status and body to answer, or None to answer nothing at all."""
        op = self.op_of(request.method, request.path)
        self._local.creating = self.client_id_of(request) if op == "create" else None
        with self.lock:
            self.requests.append((request.method, request.path))
            if op == "create":
                self.creates.append(self._local.creating or "")
        hook = self._take(self.hooks, op) if op else None
        if hook is not None:
            hook.action()
        fault = self._take(self.faults, op) if op else None
        kind = fault.kind if fault else None
        if kind == "429":
            return self.rate_limited()
        if kind == "5xx":  # from the venue's edge, before any API code: not JSON
            return 503, "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
        if kind == "hang":
            self._release.wait(self.hang_seconds)
            return None
        try:
            answer = self.route(request)
        except VenueError as error:
            return error.status, error.body
        except Refusal as refusal:
            return self.refused(refusal)
        if kind == "create_then_hang":
            self._release.wait(self.hang_seconds)
            return None
        if kind == "slow":
            self._release.wait(self.hang_seconds)
        return answer

    def _take(self, found: list[Any], op: str) -> Any:
        with self.lock:
            for item in found:
                if item.op == op and getattr(item, "count", 1) > 0:
                    if isinstance(item, Fault):
                        item.count -= 1
                    else:
                        found.remove(item)
                    return item
        return None

    # --- the dialect -------------------------------------------------------------------------

    def route(self, request: Request) -> Answer:
        raise NotImplementedError

    def refused(self, refusal: Refusal) -> Answer:
        raise NotImplementedError

    def rate_limited(self) -> Answer:
        raise NotImplementedError

    def client_id_of(self, request: Request) -> str | None:
        """The client order id a create request carries (for `creates` and hooks)."""
        return None

    # --- the engine --------------------------------------------------------------------------

    def next_id(self) -> str:
        return str(next(self._ids))

    def spec(self, symbol: str) -> MarketSpec:
        try:
            return self.markets[symbol]
        except KeyError:
            raise Refusal("symbol", symbol) from None

    def place(self, order: Order) -> Order:
        """Check, accept and match a new order (under the lock); refused ones are not kept."""
        with self.lock:
            spec = self.spec(order.symbol)
            order._size = spec.contract_size
            if order.client_id and self.duplicate_of(order):
                raise Refusal("duplicate", order.client_id)
            self._check_terms(spec, order)
            if order.conditional and self._fires(order):
                raise Refusal("would_trigger", f"{order.trigger}")
            if order.reduce_only:
                self._check_reduces(spec, order)
            self._reserve(spec, order)
            order.created_ms = order.updated_ms = now_ms()
            self.orders[order.id] = order
            if not order.conditional:
                self._work(order)
            self.changed(order)
            return order

    def duplicate_of(self, order: Order) -> bool:
        """Whether the venue refuses `order`'s client id as taken: by default, when any order it
        kept has it; a dialect narrows it (Kraken checks its open orders only)."""
        return any(o.client_id == order.client_id for o in self.orders.values())

    def cancel(self, order: Order) -> Order:
        with self.lock:
            if order.status != OPEN:
                raise Refusal("not_open", order.id)
            self._release_reserve(order)
            order.status = CANCELED
            order.updated_ms = now_ms()
            self.changed(order)
            return order

    def changed(self, order: Order) -> None:
        """Tell the watchers (the venue's private streams) that `order` changed."""
        for watcher in list(self.watchers):
            watcher(order)

    def notional(self, spec: MarketSpec, amount: Decimal, price: Decimal) -> Decimal:
        return amount * spec.contract_size * price

    def _check_terms(self, spec: MarketSpec, order: Order) -> None:
        if order.amount <= 0 or order.amount % spec.step:
            raise Refusal("amount_step", f"{order.amount}")
        if order.amount < spec.min_amount:
            raise Refusal("min_amount", f"{order.amount}")
        for price in (order.price, order.trigger):
            if price is not None and (price <= 0 or price % spec.tick):
                raise Refusal("price_step", f"{price}")
        bid, ask = self.books[spec.id]
        reference = order.price or order.trigger or (ask if order.side == "buy" else bid)
        if self.notional(spec, order.amount, reference) < spec.min_notional:
            raise Refusal("min_notional", f"{order.amount} at {reference}")

    def _fires(self, order: Order) -> bool:
        last, trigger = self.last[order.symbol], order.trigger
        assert trigger is not None
        rising = (order.kind in (STOP, STOP_LIMIT)) == (order.side == "buy")
        return last >= trigger if rising else last <= trigger

    def _check_reduces(self, spec: MarketSpec, order: Order) -> None:
        if not spec.swap:
            raise Refusal("reduce_only", "spot")
        held = self.positions.get(spec.id, Position()).amount
        if held == 0 or (held > 0) == (order.side == "buy"):
            raise Refusal("reduce_only", "no position to reduce")

    def _price_of(self, spec: MarketSpec, order: Order) -> Decimal:
        bid, ask = self.books[spec.id]
        return order.price or order.trigger or (ask if order.side == "buy" else bid)

    def _reserve(self, spec: MarketSpec, order: Order) -> None:
        """Lock what a resting or filling order needs; refuse when it is not there."""
        if spec.swap:
            if order.reduce_only:
                return
            lev = self.leverage.get(spec.id, 1)
            margin = self.notional(spec, order.amount, self._price_of(spec, order)) / lev
            self._lock_funds(spec.quote, margin, order, self.margin_used(spec.quote))
            return
        if order.side == "buy":
            cost = order.amount * self._price_of(spec, order) * (1 + self.FEE_RATE)
            self._lock_funds(spec.quote, cost, order)
        else:
            self._lock_funds(spec.base, order.amount, order)

    def _lock_funds(
        self, asset: str, amount: Decimal, order: Order, in_use: Decimal = ZERO
    ) -> None:
        """Lock `amount` of `asset` for the order; `in_use`: what positions already hold."""
        free, locked = self.balances.setdefault(asset, [D(0), D(0)])
        if free - in_use < amount:
            raise Refusal("funds", f"{asset} {free - in_use} < {amount}")
        self.balances[asset] = [free - amount, locked + amount]
        order.extra["_locked"] = (asset, amount)
        order.extra["_reserved"] = amount

    def _release_reserve(self, order: Order, part: Decimal | None = None) -> Decimal:
        """Unlock the order's reserve (a share `part` of it); returns what was unlocked."""
        asset, amount = order.extra.get("_locked", ("", D(0)))
        if not asset:
            return D(0)
        share = amount if part is None else min(amount, part)
        free, locked = self.balances[asset]
        self.balances[asset] = [free + share, locked - share]
        order.extra["_locked"] = (asset, amount - share)
        return share

    def _work(self, order: Order) -> None:
        """A market order fills at the book; a limit order fills when marketable, else rests."""
        spec = self.markets[order.symbol]
        bid, ask = self.books[spec.id]
        touch = ask if order.side == "buy" else bid
        if order.kind in (MARKET, STOP, TAKE_PROFIT):
            cap = self.partial_next.pop(order.client_id, order.remaining)
            self._execute(order, min(cap, order.remaining), touch, maker=False)
            if order.status == OPEN and order.kind != LIMIT:
                # the rest of a market order finds no liquidity: the venue expires it
                self._release_reserve(order)
                order.status = CANCELED
            return
        assert order.price is not None
        if (order.price >= touch) if order.side == "buy" else (order.price <= touch):
            self._execute(order, order.remaining, touch, maker=False)

    def _execute(self, order: Order, amount: Decimal, price: Decimal, *, maker: bool) -> None:
        if amount <= 0:
            return
        spec = self.markets[order.symbol]
        value = self.notional(spec, amount, price)
        fee = value * self.FEE_RATE
        order.filled += amount
        order.cost += value
        order.fee += fee
        order.updated_ms = now_ms()
        if order.filled == order.amount:
            order.status = FILLED
        self.trades.append(
            Trade(self.next_id(), order.id, spec.id, order.side, price, amount, fee, maker,
                  order.updated_ms)
        )  # fmt: skip
        if spec.swap:
            self._settle_swap(spec, order, amount, price, fee)
        else:
            self._settle_spot(spec, order, amount, value, fee)

    def _settle_spot(
        self, spec: MarketSpec, order: Order, amount: Decimal, value: Decimal, fee: Decimal
    ) -> None:
        self._release_reserve(order, order.extra.get("_reserved", D(0)) * amount / order.amount)
        if order.side == "buy":
            self._move(spec.quote, -(value + fee))
            self._move(spec.base, amount)
        else:
            self._move(spec.base, -amount)
            self._move(spec.quote, value - fee)
        if order.status != OPEN:
            self._release_reserve(order)  # what a better price left over

    def _settle_swap(
        self, spec: MarketSpec, order: Order, amount: Decimal, price: Decimal, fee: Decimal
    ) -> None:
        self._release_reserve(order, order.extra.get("_reserved", D(0)) * amount / order.amount)
        position = self.positions.setdefault(spec.id, Position())
        signed = amount if order.side == "buy" else -amount
        realized = D(0)
        if position.amount == 0 or (position.amount > 0) == (signed > 0):
            total = position.amount + signed
            position.entry = (position.entry * abs(position.amount) + price * amount) / abs(total)
            position.amount = total
        else:
            closed = min(abs(signed), abs(position.amount))
            direction = 1 if position.amount > 0 else -1
            realized = (price - position.entry) * closed * direction * spec.contract_size
            position.amount += signed
            if position.amount == 0:
                position.entry = D(0)
            elif (position.amount > 0) != (direction > 0):
                position.entry = price  # flipped
        self._move(spec.quote, realized - fee)

    def _move(self, asset: str, delta: Decimal) -> None:
        free, locked = self.balances.setdefault(asset, [D(0), D(0)])
        self.balances[asset] = [free + delta, locked]

    def _match(self, symbol: str) -> None:
        for order in list(self.orders.values()):
            if order.symbol != symbol or order.status != OPEN:
                continue
            before = (order.status, order.filled, order.triggered)
            if order.conditional and not order.triggered:
                if not self._fires(order):
                    continue
                order.triggered = True
                order.extra["triggered_ms"] = now_ms()
                if order.kind in (STOP_LIMIT, TAKE_PROFIT_LIMIT):
                    order.kind = LIMIT
            self._work(order)
            if (order.status, order.filled, order.triggered) != before:
                self.changed(order)

    # --- swaps: what the dialects show ---------------------------------------------------------

    def margin_used(self, quote: str) -> Decimal:
        """The initial margin of the open positions settled in `quote`."""
        used = D(0)
        for symbol, position in self.positions.items():
            spec = self.markets[symbol]
            if spec.quote == quote and position.amount:
                lev = self.leverage.get(symbol, 1)
                used += self.notional(spec, abs(position.amount), position.entry) / lev
        return used
