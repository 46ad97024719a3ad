"""The execution service over in-process paper venues and an in-memory store (no I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest

from app.adapters.memory_execution import sum_holdings
from app.adapters.paper.exchange import PaperExchange
from app.domain.brackets.bracket import BracketState
from app.domain.execution_policy import EntryPolicy, ExecutionPolicy
from app.domain.market import Market, OrderBook
from app.domain.orders import Leg, OrderKind, OrderRequest, OrderState, OrderStatus, Side
from app.domain.paper.venue import PaperVenue
from app.domain.risk_values import RiskLimits, TradingState
from app.domain.signals import (
    Action,
    OrderType,
    QtyMode,
    Signal,
    SignalStatus,
    StopKind,
    StopLoss,
    TakeProfit,
)
from app.domain.sizing import SizingPolicy
from app.ports.errors import Retryable, Unavailable
from app.ports.execution import NoLocks
from app.ports.notifications import NoNotifier, Notifier
from app.ports.reservations import Reservations
from app.services.brackets.driver import BracketDriver
from app.services.brackets.monitor import BracketMonitor
from app.services.execution.executor import Executor, SignalMissing
from tests.fakes_execution import MemoryExecutionStore, OnRecordFirst
from tests.paper_helpers import book

pytestmark = pytest.mark.anyio
D = Decimal
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
MARKET = Market(
    "BTC/USDT", "BTC", "USDT", amount_step=D("0.0001"), min_amount=D("0.0001"), min_cost=D(5)
)


ETH = msgspec.structs.replace(MARKET, symbol="ETH/USDT", base="ETH")
ETH_BOOK = book("2999x10", "3000x10", symbol="ETH/USDT")


class Books:
    """What each paper venue sees of BTC/USDT (ETH/USDT stays put); tests move prices by
    replacing a venue's book."""

    def __init__(self, **books: OrderBook) -> None:
        self.books = books

    def for_venue(self, name: str) -> Callable[[str], OrderBook]:
        return lambda symbol: ETH_BOOK if symbol == "ETH/USDT" else self.books[name]


def paper(name: str, books: Books, fee: str = "0.001") -> PaperExchange:
    markets = [
        msgspec.structs.replace(m, taker_fee=D(fee), maker_fee=D(fee)) for m in (MARKET, ETH)
    ]
    return OnRecordFirst(PaperVenue(name, markets), books.for_venue(name), lambda: NOW)


def alert(action: Action = Action.BUY, **kw: object) -> Signal:
    values: dict[str, object] = {
        "symbol": "BTC/USDT",
        "action": action,
        "source": "tradingview:native",
        "quantity": D(500),
        "qty_mode": QtyMode.QUOTE,
        "take_profits": (TakeProfit(price=D(110_000)),),
        "stop_loss": StopLoss(StopKind.PRICE, D(95_000)),
    }
    values.update(kw)
    return Signal(**values)  # type: ignore[arg-type]


class World:
    def __init__(
        self,
        policy: ExecutionPolicy | None = None,
        limits: RiskLimits | None = None,
        modes: dict[str, str] | None = None,
        reservations: Reservations | None = None,
        notifier: Notifier | None = None,
        **venue_books: str,
    ) -> None:
        self.books = Books(**{n: book(*spec.split("|")) for n, spec in venue_books.items()})
        self.venues = {name: paper(name, self.books) for name in venue_books}
        self.store = MemoryExecutionStore()
        for venue in self.venues.values():
            venue.store = self.store  # every order sent is on record first
        self.executor = Executor(
            store=self.store,
            venues=self.venues,
            modes=modes or dict.fromkeys(venue_books, "paper"),
            clock=lambda: NOW,
            locks=NoLocks(),
            limits=limits or RiskLimits(),
            sizing=SizingPolicy(),
            policy=policy,
            reservations=reservations,
            notifier=notifier,
        )
        self.monitor = BracketMonitor(
            store=self.store,
            venues=self.venues,
            driver=BracketDriver(self.store, lambda: NOW, notifier=notifier or NoNotifier()),
            locks=NoLocks(),
        )
        self.ids = iter(f"01JX5Z3K8Q4W2N7R9T1V3B5C{n:02d}" for n in range(100))

    async def send(self, signal: Signal) -> str:
        signal_id = next(self.ids)
        self.store.add(signal_id, signal, NOW)
        await self.executor.execute(signal_id)
        return signal_id

    def move(self, venue: str, bids: str, asks: str) -> None:
        self.books.books[venue] = book(bids, asks)


async def test_an_alert_with_tp_and_sl_opens_one_entry_and_legs_on_the_best_venue() -> None:
    world = World(a="99990x1|100010x1", b="99990x1|100000x1")  # b is cheaper to buy on
    signal_id = await world.send(alert())
    bracket = world.store.brackets[signal_id]
    assert bracket.venue == "b"
    assert world.store.rows[signal_id].status is SignalStatus.EXECUTED
    entry, stop = bracket.orders
    assert (entry.leg, entry.state, entry.filled) == (Leg.ENTRY, OrderState.FILLED, D("0.0050"))
    assert (stop.leg, stop.state, stop.trigger_price) == (
        Leg.STOP_LOSS,
        OrderState.ACCEPTED,
        D(95_000),
    )
    assert bracket.state is BracketState.OPEN
    assert world.store.steps(signal_id)[:4] == ["sizing", "route", "decision", "order"]
    assert [o.client_order_id for o in await world.venues["a"].open_orders()] == []


async def test_a_take_profit_cancels_the_stop_and_closes_the_bracket() -> None:
    world = World(a="99990x1|100000x1")
    signal_id = await world.send(alert())
    world.move("a", "110000x1", "110010x1")
    await world.monitor.run_once()
    bracket = world.store.brackets[signal_id]
    states = {o.leg: o.state for o in bracket.orders}
    assert states == {
        Leg.ENTRY: OrderState.FILLED,
        Leg.STOP_LOSS: OrderState.CANCELLED,
        Leg.TAKE_PROFIT: OrderState.FILLED,
    }
    assert bracket.state is BracketState.CLOSED
    assert bracket.realized_pnl > 0
    assert await world.venues["a"].open_orders() == []


async def test_a_stop_fill_closes_the_bracket() -> None:
    world = World(a="99990x1|100000x1")
    signal_id = await world.send(alert())
    world.move("a", "94000x1", "94010x1")
    await world.monitor.run_once()
    bracket = world.store.brackets[signal_id]
    assert bracket.state is BracketState.CLOSED
    assert bracket.realized_pnl < 0


async def test_a_venue_without_stop_orders_has_its_stop_loss_watched_and_sold_at_market() -> None:
    world = World(a="99990x1|100000x1")
    venue = world.venues["a"]
    venue.capabilities = msgspec.structs.replace(venue.capabilities, stop_market=False)
    signal_id = await world.send(alert())
    bracket = world.store.brackets[signal_id]
    assert bracket.stop_watched
    assert [o.leg for o in bracket.orders] == [Leg.ENTRY]  # nothing rests
    assert await venue.open_orders() == []
    world.move("a", "95010x1", "95020x1")
    assert await world.monitor.run_once() == 0  # above the stop: nothing to do
    world.move("a", "94990x1", "95000x1")
    await world.monitor.run_once()
    bracket = world.store.brackets[signal_id]
    fired = bracket.orders[-1]
    assert (fired.leg, fired.kind, fired.side) == (Leg.STOP_LOSS, OrderKind.MARKET, Side.SELL)
    assert (fired.state, fired.filled) == (OrderState.FILLED, D("0.0050"))
    assert bracket.state is BracketState.CLOSED
    assert bracket.realized_pnl < 0


async def test_a_watched_stop_without_a_price_is_logged_as_waiting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World(a="99990x1|100000x1")
    venue = world.venues["a"]
    venue.capabilities = msgspec.structs.replace(venue.capabilities, stop_market=False)
    signal_id = await world.send(alert())

    async def no_book(symbol: str, depth: int = 20) -> OrderBook:
        raise Retryable("the venue is not answering")

    venue.order_book = no_book  # type: ignore[method-assign]
    await world.monitor.run_once()

    assert f"bracket {signal_id}: no price from a" in caplog.text
    assert "its watched stop-loss waits" in caplog.text


async def test_a_close_alert_cancels_the_legs_and_flattens() -> None:
    world = World(a="99990x1|100000x1")
    opened = await world.send(alert())
    closer = await world.send(alert(Action.CLOSE, take_profits=(), stop_loss=None))
    assert world.store.brackets[opened].state is BracketState.CLOSED
    assert world.store.rows[closer].status is SignalStatus.EXECUTED
    assert await world.venues["a"].open_orders() == []
    balances = await world.venues["a"].balances()
    assert balances["BTC"].total == 0


async def test_a_close_alert_that_cancels_a_resting_entry_has_done_its_work() -> None:
    world = World(a="99990x1|100000x1")
    resting = await world.send(alert(order_type=OrderType.LIMIT, limit_price=D(99_000)))
    assert world.store.brackets[resting].state is BracketState.OPENING
    closer = await world.send(alert(Action.CLOSE, take_profits=(), stop_loss=None))
    assert world.store.brackets[resting].state is BracketState.FAILED  # never filled: nothing held
    assert world.store.rows[closer].status is SignalStatus.EXECUTED, world.store.lineage[closer]
    assert await world.venues["a"].open_orders() == []


async def test_a_reverse_that_cancels_a_resting_entry_goes_on_to_the_other_side() -> None:
    world = World(a="99990x1|100000x1")
    resting = await world.send(alert(order_type=OrderType.LIMIT, limit_price=D(99_000)))
    reverse = await world.send(alert(Action.REVERSE, take_profits=(), stop_loss=None))
    assert world.store.brackets[resting].state is BracketState.FAILED  # never filled: nothing held
    steps = [step.detail for step in world.store.lineage[reverse]]
    assert not any("could not flatten" in (detail or "") for detail in steps), steps
    # flat, so the short is tried: spot, and the paper venue holds no coins to sell
    assert world.store.rows[reverse].status is SignalStatus.DENIED, steps


async def test_a_denied_alert_lists_every_failed_check() -> None:
    world = World(a="99990x1|100000x1")
    world.store.state = TradingState.REDUCING
    signal_id = await world.send(
        alert(quantity=D(2000), stop_loss=StopLoss(StopKind.PRICE, D(101_000)))
    )
    assert world.store.rows[signal_id].status is SignalStatus.DENIED
    decision = world.store.lineage[signal_id][-1]
    failed = {c["name"] for c in decision.data["checks"] if not c["passed"]}
    assert {"trading_state", "max_order_notional", "tp_sl_sanity"} <= failed
    assert signal_id not in world.store.brackets


async def test_a_second_entry_is_ignored_by_default_and_added_when_asked() -> None:
    world = World(a="99990x1|100000x1")
    await world.send(alert())
    second = await world.send(alert(alert_id="2"))
    assert world.store.rows[second].status is SignalStatus.DENIED
    adding = World(ExecutionPolicy(entry_policy=EntryPolicy.ADD), a="99990x1|100000x1")
    await adding.send(alert())
    again = await adding.send(alert(alert_id="2"))
    assert adding.store.rows[again].status is SignalStatus.EXECUTED
    assert len(adding.store.open_brackets()) == 2


async def test_a_job_run_twice_places_nothing_twice() -> None:
    world = World(a="99990x1|100000x1")
    signal_id = await world.send(alert())
    await world.executor.execute(signal_id)
    world.store.add(signal_id, alert(), NOW)  # queued again: as if the job died before its end
    await world.executor.execute(signal_id)
    orders = world.venues["a"].venue.open_orders()
    assert len(orders) == 1  # one stop; one entry filled once
    assert world.venues["a"].venue.balances()["BTC"].reserved == D("0.0050")


async def test_signals_of_one_symbol_run_in_arrival_order() -> None:
    world = World(ExecutionPolicy(entry_policy=EntryPolicy.REVERSE), a="99990x1|100000x1")
    first, second = next(world.ids), next(world.ids)
    world.store.add(first, alert(), NOW)
    world.store.add(second, alert(Action.CLOSE, take_profits=(), stop_loss=None), NOW)
    await world.executor.execute(second)  # the later job runs first: it runs the earlier too
    assert world.store.rows[first].status is SignalStatus.EXECUTED
    assert world.store.brackets[first].state is BracketState.CLOSED
    assert world.store.rows[second].status is SignalStatus.EXECUTED


async def test_a_reverse_closes_the_long_and_opens_a_short_on_a_margin_venue() -> None:
    world = World(a="99990x1|100000x1")
    opened = await world.send(alert())
    reversed_ = await world.send(alert(Action.REVERSE, take_profits=(), stop_loss=None))
    assert world.store.brackets[opened].state is BracketState.CLOSED
    # spot: a short needs coins the paper venue does not hold, so the new side is denied
    assert world.store.rows[reversed_].status is SignalStatus.DENIED
    assert Side.SELL  # the reversal was attempted on the opposite side


@pytest.mark.parametrize("named", [False, True], ids=["read", "named_by_the_job"])
async def test_a_batch_runs_each_symbol_in_order_and_every_signal_once(named: bool) -> None:
    """The job's signals are read before their locks are taken, unless the job names each
    one's account and symbol (the forwarder's jobs do)."""
    world = World(a="99990x1|100000x1")
    ids = [next(world.ids) for _ in range(3)]
    world.store.add(ids[0], alert(), NOW)
    world.store.add(ids[1], alert(symbol="ETH/USDT", take_profits=(), stop_loss=None), NOW)
    world.store.add(ids[2], alert(Action.CLOSE, take_profits=(), stop_loss=None), NOW)
    keys = None
    if named:
        keys = {ids[0]: ("default", "BTC/USDT"), ids[1]: ("default", "ETH/USDT"),
                ids[2]: ("default", "BTC/USDT")}  # fmt: skip
        reads, world.store.states = world.store.states, None  # type: ignore[assignment,method-assign]
    statuses = await world.executor.execute_many(ids[::-1], keys)
    if named:  # not read: every signal got its status in this run
        world.store.states = reads  # type: ignore[method-assign]
    assert statuses == dict.fromkeys(ids, SignalStatus.EXECUTED)
    assert world.store.brackets[ids[0]].state is BracketState.CLOSED  # opened, then closed
    assert world.store.brackets[ids[1]].state is BracketState.OPEN
    assert await world.executor.execute_many(ids) == statuses  # a second run places nothing
    assert len(world.venues["a"].venue.fills_since("BTC/USDT", NOW)) == 2


async def test_a_job_whose_signal_is_not_in_the_database_yet_is_retried_with_or_without_keys() -> (
    None
):
    world = World(a="99990x1|100000x1")
    signal_id = next(world.ids)
    for keys in (None, {signal_id: ("default", "BTC/USDT")}):
        with pytest.raises(SignalMissing, match=f"signals {signal_id} are not in the database"):
            await world.executor.execute_many([signal_id], keys)
    world.store.add(signal_id, alert(), NOW)
    keys = {signal_id: ("default", "BTC/USDT")}
    assert await world.executor.execute_many([signal_id], keys) == {
        signal_id: SignalStatus.EXECUTED
    }
    assert await world.executor.execute_many([signal_id], keys) == {  # run twice: nothing more
        signal_id: SignalStatus.EXECUTED
    }
    assert len(world.venues["a"].venue.fills_since("BTC/USDT", NOW)) == 1


async def test_the_monitor_acts_on_a_bracket_changed_since_its_last_round() -> None:
    world = World(a="99990x1|100000x1")
    signal_id = await world.send(alert())
    assert await world.monitor.run_once() == 0  # read and remembered: nothing to do
    world.store.save_bracket(
        msgspec.structs.replace(world.store.brackets[signal_id], closing=True), NOW
    )  # a close asked for elsewhere, after the monitor's last read
    assert await world.monitor.run_once() == 1
    assert world.store.brackets[signal_id].state is BracketState.CLOSED
    assert await world.monitor.run_once() == 0


def test_holdings_are_summed_per_venue_symbol_and_side() -> None:
    rows = [
        ("a", "BTC/USDT", "buy", "0.1", "100"),
        ("a", "BTC/USDT", "buy", "0.3", "200"),
        ("a", "BTC/USDT", "buy", "0", None),  # an entry not filled yet
        ("b", "BTC/USDT", "buy", "0.2", "150"),
        ("a", "BTC/USDT", "sell", "0", None),
    ]
    held = {(h.venue, h.side): h for h in sum_holdings(rows)}
    assert (held["a", Side.BUY].position, held["a", Side.BUY].entry_price) == (D("0.4"), D(175))
    assert held["a", Side.BUY].brackets == 3
    assert (held["b", Side.BUY].position, held["b", Side.BUY].entry_price) == (D("0.2"), D(150))
    assert (held["a", Side.SELL].position, held["a", Side.SELL].entry_price) == (0, None)


async def test_a_key_that_fails_in_a_batch_lets_the_other_keys_finish_before_the_error() -> None:
    """A key's error ends the job only once every other key of the batch has run to its end:
    a run left pending would go on in the next job, perhaps mid-create after its lease lapsed."""
    world = World(a="99990x1|100000x1")
    venue = world.venues["a"]
    create, read_book = venue.create_order, venue.order_book

    async def slow_create(request: OrderRequest) -> OrderStatus:
        await asyncio.sleep(0.05)  # a venue round trip
        return await create(request)

    async def book_or_outage(symbol: str, depth: int = 20) -> OrderBook:
        if symbol == "BTC/USDT":
            raise Unavailable("the venue's BTC/USDT book cannot be read")
        return await read_book(symbol, depth)

    venue.create_order = slow_create  # type: ignore[method-assign]
    venue.order_book = book_or_outage  # type: ignore[method-assign]
    ids = [next(world.ids) for _ in range(2)]
    world.store.add(ids[0], alert(), NOW)
    world.store.add(ids[1], alert(symbol="ETH/USDT", take_profits=(), stop_loss=None), NOW)

    with pytest.raises(Unavailable):
        await world.executor.execute_many(ids)

    assert [t for t in asyncio.all_tasks() if "_run_key" in repr(t.get_coro())] == []
    assert world.store.brackets[ids[1]].state is BracketState.OPEN  # ETH ran to its end


def counted_books(venue: PaperExchange) -> list[str]:
    """The symbols of the venue's order-book reads, as they are asked."""
    asked: list[str] = []
    read = venue.order_book

    async def order_book(symbol: str, depth: int = 20) -> OrderBook:
        asked.append(symbol)
        return await read(symbol, depth)

    venue.order_book = order_book  # type: ignore[method-assign]
    return asked


async def test_the_quotes_are_asked_as_the_key_s_run_begins_and_read_once() -> None:
    """The venues answer while the key's queue and the account are read: the quotes are asked
    before the queue is read, and the entry reads those, not a second copy."""
    world = World(a="99990x1|100000x1")
    asked = counted_books(world.venues["a"])
    asked_before_queue: list[int] = []
    read_queue = world.store.pending

    def pending(*args: object) -> object:
        asked_before_queue.append(len(asked))
        return read_queue(*args)  # type: ignore[arg-type]

    world.store.pending = pending  # type: ignore[assignment,method-assign]
    signal_id = await world.send(alert())

    assert world.store.rows[signal_id].status is SignalStatus.EXECUTED
    assert asked_before_queue == [1]
    assert asked == ["BTC/USDT"]
    assert world.executor._ctx.early == {}  # taken


@pytest.mark.parametrize("change", ["a send", "time"])
async def test_quotes_asked_early_are_asked_again_after_a_send_or_a_while(
    change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quotes asked before this process sent an order or a cancel (a reverse's flattening,
    before its entry), or too long ago, are not what the entry reads: it asks again."""
    world = World(a="99990x1|100000x1")
    asked = counted_books(world.venues["a"])
    ctx = world.executor._ctx
    await ctx.quote_early("default", "BTC/USDT")
    if change == "a send":
        ctx.driver.sent += 1
    else:
        monkeypatch.setattr("app.services.execution.quotes.EARLY_QUOTES_SECONDS", 0.0)
    _, views = await ctx.account_and_quotes("default", "BTC/USDT")

    assert asked == ["BTC/USDT", "BTC/USDT"]
    assert views[0].quote.book is not None
    assert ctx.early == {}
