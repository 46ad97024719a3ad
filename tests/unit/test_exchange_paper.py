from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.adapters.paper.exchange import PaperExchange
from app.domain.market import Market, OrderBook
from app.domain.orders import Fill, OrderKind, OrderRequest, OrderState, Side
from app.domain.paper.state import OPEN_STATES, PaperBalance, PaperChanges, PaperOrder, PaperState
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
from app.ports.exchange import Balance, Exchange
from tests.paper_helpers import SYMBOL, book, order

pytestmark = pytest.mark.anyio

D = Decimal
NOW = datetime(2026, 1, 1, tzinfo=UTC)
MARKET = Market(SYMBOL, "BTC", "USDT", amount_step=D("0.001"), min_cost=D(10))


class FixedFeed:
    """A book source whose book the test can move."""

    def __init__(self, current: OrderBook) -> None:
        self.current = current

    def __call__(self, symbol: str) -> OrderBook:
        assert symbol == SYMBOL
        return self.current


@pytest.fixture
def feed() -> FixedFeed:
    return FixedFeed(book(bids="99x1 98x2", asks="100x1 101x2"))


@pytest.fixture
def exchange(feed: FixedFeed) -> PaperExchange:
    """A paper exchange with 50,000 USDT and 1 BTC over the movable feed."""
    venue = PaperVenue("paper", [MARKET], {"USDT": D(50_000), "BTC": D(1)})
    return PaperExchange(venue, feed, lambda: NOW)


def request(side: Side, kind: OrderKind, amount: str, **prices: str) -> OrderRequest:
    """An order request with the client order id `sgA` (the tests repeat it on purpose)."""
    return order(side, kind, amount, client_id="sgA", **prices)


def test_it_is_an_exchange_with_capabilities_as_data(exchange: PaperExchange) -> None:
    port: Exchange = exchange
    assert port.name == "paper"
    caps = port.capabilities
    assert (caps.native_oco, caps.stop_market, caps.reduce_only) == (False, True, False)
    assert caps.client_order_id_max_length == 36
    assert caps.spot_locks_resting_sells


async def test_a_market_order_fills_from_the_feed_and_moves_balances(
    exchange: PaperExchange,
) -> None:
    status = await exchange.create_order(request(Side.BUY, OrderKind.MARKET, "2"))

    assert (status.state, status.average_price) == (OrderState.FILLED, D("100.5"))
    assert await exchange.fetch_order(SYMBOL, status.order_id) == status
    assert await exchange.fetch_order_by_client_id(SYMBOL, "sgA") == status
    assert await exchange.fetch_order_by_client_id(SYMBOL, "sgB") is None
    assert [f.price for f in await exchange.fills_since(SYMBOL, NOW)] == [D(100), D(101)]
    balances = await exchange.balances()
    assert balances["BTC"] == Balance("BTC", D(3), D(0))
    assert balances["USDT"].total == D(50_000) - D(201) - D("0.201")


async def test_resting_orders_fill_when_the_feed_moves(
    exchange: PaperExchange, feed: FixedFeed
) -> None:
    placed = await exchange.create_order(request(Side.SELL, OrderKind.LIMIT, "1", price="105"))
    assert [o.order_id for o in await exchange.open_orders(SYMBOL)] == [placed.order_id]
    assert (await exchange.balances())["BTC"] == Balance("BTC", D(0), D(1))

    feed.current = book(bids="106x5", asks="107x5")

    assert (await exchange.fetch_order(SYMBOL, placed.order_id)).state is OrderState.FILLED
    assert await exchange.open_orders() == []


async def test_order_book_is_cut_to_depth(exchange: PaperExchange) -> None:
    cut = await exchange.order_book(SYMBOL, depth=1)
    assert (len(cut.bids), len(cut.asks)) == (1, 1)
    assert SYMBOL in await exchange.markets()


@pytest.mark.parametrize(
    ("order", "error", "message"),
    [
        (request(Side.SELL, OrderKind.MARKET, "2"), InsufficientFunds, "insufficient BTC"),
        (request(Side.BUY, OrderKind.LIMIT, "0.05", price="100"), InvalidOrder, "below"),
        (request(Side.BUY, OrderKind.LIMIT, "1"), InvalidOrder, "limit price"),
    ],
)
async def test_refusals_become_the_ports_errors(
    exchange: PaperExchange, order: OrderRequest, error: type[ExchangeError], message: str
) -> None:
    with pytest.raises(error, match=message):
        await exchange.create_order(order)


async def test_a_second_order_with_the_same_client_id_is_invalid(exchange: PaperExchange) -> None:
    await exchange.create_order(request(Side.BUY, OrderKind.MARKET, "1"))

    with pytest.raises(InvalidOrder, match="already used"):
        await exchange.create_order(request(Side.SELL, OrderKind.MARKET, "1"))


async def test_unknown_and_closed_orders_are_not_found(exchange: PaperExchange) -> None:
    filled = await exchange.create_order(request(Side.BUY, OrderKind.MARKET, "1"))

    with pytest.raises(OrderNotFound, match="is filled"):
        await exchange.cancel_order(SYMBOL, filled.order_id)
    with pytest.raises(OrderNotFound, match="no order 42"):
        await exchange.fetch_order(SYMBOL, "42")
    with pytest.raises(OrderNotFound):
        await exchange.fetch_order("ETH/USDT", filled.order_id)


async def test_cancel_releases_the_hold(exchange: PaperExchange) -> None:
    placed = await exchange.create_order(request(Side.BUY, OrderKind.LIMIT, "1", price="90"))
    assert (await exchange.balances())["USDT"].used == D(90) + D("0.09")

    cancelled = await exchange.cancel_order(SYMBOL, placed.order_id)

    assert cancelled.state is OrderState.CANCELLED
    assert (await exchange.balances())["USDT"] == Balance("USDT", D(50_000), D(0))


class MemoryStore:
    """Keeps venues as rows in dicts, as `SqlPaperStore` does in SQL; `down` makes every call
    fail as a lost database does."""

    def __init__(self) -> None:
        self.markets: dict[str, tuple[Market, ...]] = {}
        self.numbers: dict[str, int] = {}
        self.orders: dict[str, dict[str, PaperOrder]] = {}
        self.balances: dict[str, dict[str, PaperBalance]] = {}
        self.fills: dict[str, list[Fill]] = {}
        self.saves = 0
        self.down = False

    def _reach(self) -> None:
        if self.down:
            raise Unavailable("database unreachable (OperationalError)")

    def load(
        self, name: str, since: datetime | None = None, keep: int | None = None
    ) -> PaperState | None:
        self._reach()
        if name not in self.markets:
            return None
        cuts = [] if since is None else [since]
        if keep is not None:
            closed = [o for o in self.orders[name].values() if o.state not in OPEN_STATES]
            kinds = ([o.updated_at for o in closed], [f.at for f in self.fills[name]])
            cuts += [sorted(times)[-keep] for times in kinds if len(times) >= keep]
        cut = max(cuts, default=None)
        orders = [
            o
            for o in self.orders[name].values()
            if cut is None or o.state in OPEN_STATES or o.updated_at >= cut
        ]
        return PaperState(
            name,
            self.markets[name],
            tuple(self.balances[name].values()),
            tuple(sorted(orders, key=lambda o: int(o.order_id))),
            tuple(f for f in self.fills[name] if cut is None or f.at >= cut),
            self.numbers[name],
            cut,
        )

    def save_changes(self, name: str, changes: PaperChanges) -> None:
        self._reach()
        self.saves += 1
        if changes.markets is not None:
            self.markets[name] = changes.markets
            self.orders[name], self.balances[name], self.fills[name] = {}, {}, []
        if changes.next_order_number is not None:
            self.numbers[name] = changes.next_order_number
        self.orders[name].update((o.order_id, o) for o in changes.orders)
        self.balances[name].update((b.asset, b) for b in changes.balances)
        self.fills[name].extend(changes.fills)

    def order_by_client_id(self, name: str, client_order_id: str) -> PaperOrder | None:
        self._reach()
        found = [o for o in self.orders[name].values() if o.client_order_id == client_order_id]
        return found[0] if found else None

    def order(self, name: str, order_id: str) -> PaperOrder | None:
        self._reach()
        return self.orders[name].get(order_id)

    def fills_between(self, name: str, symbol: str, since: datetime, until: datetime) -> list[Fill]:
        self._reach()
        return [f for f in self.fills[name] if f.symbol == symbol and since <= f.at < until]


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def test_a_stored_exchange_saves_every_change_and_reopens_as_it_was(
    feed: FixedFeed,
) -> None:
    store = MemoryStore()
    exchange = PaperExchange.open("paper", [MARKET], feed, lambda: NOW, store, {"BTC": D(1)})
    placed = await exchange.create_order(request(Side.SELL, OrderKind.LIMIT, "1", price="500"))
    await exchange.balances()  # reads save nothing
    await exchange.fetch_order(SYMBOL, placed.order_id)  # an unchanged book: nothing to save
    assert store.saves == 2  # opened, placed

    feed.current = book(bids="600x5", asks="601x5")
    await exchange.open_orders(SYMBOL)  # the new book fills the resting sell
    assert store.saves == 3

    reopened = PaperExchange.open("paper", [MARKET], feed, lambda: NOW, store)
    assert await reopened.balances() == await exchange.balances()
    assert (await reopened.fetch_order(SYMBOL, placed.order_id)).state is OrderState.FILLED
    assert await reopened.fills_since(SYMBOL, NOW) == await exchange.fills_since(SYMBOL, NOW)


async def test_an_order_placed_while_the_store_is_down_is_of_unknown_outcome(
    feed: FixedFeed,
) -> None:
    store = MemoryStore()
    exchange = PaperExchange.open("paper", [MARKET], feed, lambda: NOW, store)
    store.down = True

    with pytest.raises(OutcomeUnknown, match="could not be saved"):
        await exchange.create_order(request(Side.BUY, OrderKind.MARKET, "1"))

    assert await exchange.fetch_order_by_client_id(SYMBOL, "sgA") is not None


async def test_changes_a_failed_save_missed_are_saved_with_the_next_one(
    feed: FixedFeed,
) -> None:
    store = MemoryStore()
    exchange = PaperExchange.open("paper", [MARKET], feed, lambda: NOW, store)
    store.down = True
    with pytest.raises(OutcomeUnknown):
        await exchange.create_order(request(Side.BUY, OrderKind.MARKET, "1"))
    store.down = False

    second = await exchange.create_order(order(Side.BUY, OrderKind.MARKET, "1", client_id="sgB"))

    reopened = PaperExchange.open("paper", [MARKET], feed, lambda: NOW, store)
    assert await reopened.fetch_order_by_client_id(SYMBOL, "sgA") is not None
    assert await reopened.fetch_order_by_client_id(SYMBOL, "sgB") == second
    assert await reopened.balances() == await exchange.balances()
    fills = await reopened.fills_since(SYMBOL, NOW)
    assert [f.client_order_id for f in fills] == ["sgA", "sgB"]
    assert fills == await exchange.fills_since(SYMBOL, NOW)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def aged(feed: FixedFeed, clock: Clock) -> tuple[PaperExchange, MemoryStore]:
    """A stored exchange keeping one hour in memory, whose market order `sgA` (filled at NOW)
    is two hours old and pruned from memory."""
    store = MemoryStore()
    exchange = PaperExchange.open(
        "paper", [MARKET], feed, clock, store, retention=timedelta(hours=1)
    )
    return exchange, store


async def test_old_orders_and_fills_pruned_from_memory_are_read_from_the_store(
    aged: tuple[PaperExchange, MemoryStore], clock: Clock
) -> None:
    exchange, store = aged
    old = await exchange.create_order(request(Side.BUY, OrderKind.MARKET, "2"))
    old_fills = await exchange.fills_since(SYMBOL, NOW)
    clock.now = NOW + timedelta(hours=2)
    recent = await exchange.create_order(order(Side.SELL, OrderKind.MARKET, "1", client_id="sgB"))

    assert exchange.venue.order_by_client_id("sgA") is None  # pruned from memory
    assert await exchange.fetch_order_by_client_id(SYMBOL, "sgA") == old
    assert await exchange.fetch_order(SYMBOL, old.order_id) == old
    assert await exchange.fetch_order_by_client_id("ETH/USDT", "sgA") is None
    with pytest.raises(OrderNotFound, match="is filled"):
        await exchange.cancel_order(SYMBOL, old.order_id)
    with pytest.raises(InvalidOrder, match="already used"):
        await exchange.create_order(request(Side.BUY, OrderKind.MARKET, "1"))
    fills = await exchange.fills_since(SYMBOL, NOW)
    assert fills[: len(old_fills)] == old_fills
    assert [f.order_id for f in fills[len(old_fills) :]] == [recent.order_id]
    assert await exchange.fetch_order_by_client_id(SYMBOL, "sgC") is None

    store.down = True
    with pytest.raises(Retryable, match="could not be read"):
        await exchange.fetch_order_by_client_id(SYMBOL, "sgC")


async def test_a_reopened_exchange_loads_only_recent_history_and_finds_the_rest(
    aged: tuple[PaperExchange, MemoryStore], feed: FixedFeed, clock: Clock
) -> None:
    exchange, store = aged
    old = await exchange.create_order(request(Side.BUY, OrderKind.MARKET, "1"))
    resting = await exchange.create_order(
        order(Side.SELL, OrderKind.LIMIT, "1", price="500", client_id="sgR")
    )
    clock.now = NOW + timedelta(hours=2)

    reopened = PaperExchange.open(
        "paper", [MARKET], feed, clock, store, retention=timedelta(hours=1)
    )

    assert reopened.venue.history_since == NOW + timedelta(hours=1)
    assert reopened.venue.snapshot().fills == ()
    assert await reopened.open_orders(SYMBOL) == [resting]
    assert await reopened.fetch_order_by_client_id(SYMBOL, "sgA") == old
    with pytest.raises(InvalidOrder, match="already used"):
        await reopened.create_order(request(Side.SELL, OrderKind.MARKET, "1"))


async def test_a_busy_stored_exchange_keeps_a_bounded_history_in_memory(
    feed: FixedFeed, clock: Clock
) -> None:
    store = MemoryStore()
    exchange = PaperExchange.open("paper", [MARKET], feed, clock, store, history_limit=10)
    placed = []
    for number in range(60):  # well within the retention: only the limit prunes
        clock.now = NOW + timedelta(seconds=number)
        buy = order(Side.BUY, OrderKind.MARKET, "0.2", client_id=f"sg{number}")
        placed.append(await exchange.create_order(buy))

    # the bound (both kinds at the limit, and a tenth of slack) is checked before each request:
    # the last order and its fill come on top
    assert exchange.venue.history_size <= 2 * 10 + 10 // 10 + 2
    assert exchange.venue.order_by_client_id("sg0") is None  # pruned from memory
    assert await exchange.fetch_order_by_client_id(SYMBOL, "sg0") == placed[0]  # from the store
    assert await exchange.fetch_order_by_client_id(SYMBOL, "sg59") == placed[-1]
    with pytest.raises(InvalidOrder, match="already used"):
        await exchange.create_order(order(Side.BUY, OrderKind.MARKET, "0.2", client_id="sg0"))


async def test_without_a_store_nothing_is_pruned(exchange: PaperExchange) -> None:
    clock = Clock()
    exchange._clock = clock  # the fixture's exchange, on a movable clock
    placed = await exchange.create_order(request(Side.BUY, OrderKind.MARKET, "1"))
    clock.now = NOW + timedelta(days=30)

    assert await exchange.fetch_order_by_client_id(SYMBOL, "sgA") == placed
    assert exchange.venue.history_since is None
