"""Linked signals executed as one unit (an arbitrage): every leg or none, the unwind recorded."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import msgspec
import pytest

from app.domain.brackets.bracket import Bracket, BracketState, LegOrder
from app.domain.market import Market
from app.domain.orders import Leg, OrderKind, OrderRequest, OrderState, OrderStatus, Side
from app.domain.paper.venue import PaperVenue
from app.domain.reservations import Reservation
from app.domain.risk_values import RiskLimits
from app.domain.signals import Action, Link, Signal, SignalStatus
from app.domain.sizing import SizingPolicy
from app.ports.errors import Fatal
from app.ports.execution import NoLocks
from app.ports.reservations import LocalReservations
from app.services.brackets.driver import BracketDriver
from app.services.brackets.monitor import BracketMonitor
from app.services.execution.executor import Executor, SignalMissing
from app.services.execution.unit_checks import checked
from app.services.execution.units import UNIT_WAIT
from app.services.strategy.arbitrage import ArbitrageParams, ArbitrageScanner
from tests.fakes_execution import MemoryExecutionStore, OnRecordFirst
from tests.paper_helpers import book
from tests.unit.test_execution import ETH, MARKET, NOW

pytestmark = pytest.mark.anyio
D = Decimal
AMOUNT = D("0.005")


class Refusing(OnRecordFirst):
    """A paper venue whose engine refuses every order (as a venue down for maintenance)."""

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        raise Fatal("the venue refused the order: trading is suspended")


class World:
    """Venue a sells BTC at 100,000; venue b buys it at 100,600 and holds 0.005 BTC to sell."""

    def __init__(
        self,
        *,
        b_holds: str = "0.005",
        refusing_b: bool = False,
        limits: RiskLimits | None = None,
        reservations: LocalReservations | None = None,
    ) -> None:
        self.now = NOW
        books = {"a": book("99990x1", "100000x1"), "b": book("100600x1", "100610x1")}
        kind = Refusing if refusing_b else OnRecordFirst
        self.venues = {
            "a": OnRecordFirst(PaperVenue("a", [MARKET, ETH]), lambda s: books["a"], self.clock),
            "b": kind(
                PaperVenue("b", [MARKET, ETH], {"USDT": D(50_000), "BTC": D(b_holds)}),
                lambda s: books["b"],
                self.clock,
            ),
        }
        self.books = books
        self.store = MemoryExecutionStore()
        for venue in self.venues.values():
            venue.store = self.store  # every order sent is on record first
        self.executor = Executor(
            store=self.store,
            venues=self.venues,
            modes={"a": "paper", "b": "paper"},
            clock=self.clock,
            locks=NoLocks(),
            limits=limits or RiskLimits(),
            sizing=SizingPolicy(),
            reservations=reservations,
        )
        self.ids = iter(f"01JX5Z3K8Q4W2N7R9T1V3B5C{n:02d}" for n in range(100))

    def clock(self):  # type: ignore[no-untyped-def]
        return self.now

    def keep(self, signal: Signal) -> str:
        signal_id = next(self.ids)
        self.store.add(signal_id, signal, self.now)
        return signal_id

    def unit(self, kept: int = 2) -> list[str]:
        """A direct arbitrage: buy on a at 100,000, sell on b at 100,600 (the first `kept`
        legs kept)."""
        buy = leg(Action.BUY, "a", "100000", 0)
        sell = leg(Action.SELL, "b", "100600", 1)
        return [self.keep(s) for s in (buy, sell)[:kept]]

    def statuses(self, ids: list[str]) -> list[SignalStatus]:
        return [self.store.rows[i].status for i in ids]

    def btc(self, venue: str) -> Decimal:
        held = self.venues[venue].venue.balances().get("BTC")
        return D(0) if held is None else held.free + held.reserved


def leg(action: Action, venue: str, price: str, number: int) -> Signal:
    return Signal(
        symbol="BTC/USDT",
        action=action,
        source="strategy:arbitrage",
        strategy="arbitrage",
        venue=venue,
        quantity=AMOUNT,
        price=D(price),
        link=Link("arb-1", number, 2),
    )


async def test_a_unit_fills_every_leg_and_closes_their_brackets() -> None:
    world = World()
    ids = world.unit()

    statuses = await world.executor.execute_many(ids)

    assert list(statuses.values()) == [SignalStatus.EXECUTED, SignalStatus.EXECUTED]
    assert (world.btc("a"), world.btc("b")) == (D("0.0050"), D(0))
    for signal_id in ids:
        bracket = world.store.brackets[signal_id]
        assert bracket.state is BracketState.CLOSED
        assert [o.state for o in bracket.orders] == [OrderState.FILLED]
        assert world.store.steps(signal_id)[-1] == "unit"


async def test_one_leg_failing_a_check_denies_every_leg_and_places_nothing() -> None:
    world = World(b_holds="0")  # b has no BTC to sell
    ids = world.unit()

    await world.executor.execute_many(ids)

    assert world.statuses(ids) == [SignalStatus.DENIED, SignalStatus.DENIED]
    assert world.store.brackets == {}
    assert world.venues["a"].venue.open_orders() == []
    detail = world.store.lineage[ids[0]][-1].detail or ""
    assert "no leg placed" in detail
    assert "leg 2 (sell BTC/USDT on b)" in detail
    assert "0.005 BTC is needed, 0 free" in detail


async def test_a_leg_refused_by_its_venue_unwinds_the_filled_ones() -> None:
    world = World(refusing_b=True)
    ids = world.unit()

    await world.executor.execute_many(ids)

    assert world.statuses(ids) == [SignalStatus.FAILED, SignalStatus.FAILED]
    bought = world.store.brackets[ids[0]]
    assert [(o.leg, o.side, o.state) for o in bought.orders] == [
        (Leg.ENTRY, "buy", OrderState.FILLED),
        (Leg.EXIT, "sell", OrderState.FILLED),
    ]
    assert bought.state is BracketState.CLOSED
    assert world.btc("a") == 0  # taken back
    assert "unwind" in world.store.steps(ids[0])
    assert "leg 2 (sell BTC/USDT on b) was not filled (rejected)" in (
        world.store.lineage[ids[1]][-1].detail or ""
    )


async def test_a_unit_waits_for_its_missing_legs_then_is_denied() -> None:
    world = World()
    first = world.unit(kept=1)  # leg 1 of 2 only
    first_signal = world.store.rows[first[0]].signal
    assert first_signal.link == Link("arb-1", 0, 2)
    with pytest.raises(SignalMissing):
        await world.executor.execute_many(first)  # retried: the other leg may be on its way
    assert world.statuses(first) == [SignalStatus.QUEUED]

    world.now += UNIT_WAIT + timedelta(seconds=1)
    await world.executor.execute_many(first)

    assert world.statuses(first) == [SignalStatus.DENIED]
    assert "only 1 of the unit's 2 legs arrived" in (world.store.lineage[first[0]][-1].detail or "")


async def test_a_unit_whose_price_moved_past_the_slippage_budget_is_denied() -> None:
    world = World()
    world.books["b"] = book("100000x1", "100010x1")  # the rich bid is gone
    ids = world.unit()

    await world.executor.execute_many(ids)

    assert world.statuses(ids) == [SignalStatus.DENIED, SignalStatus.DENIED]
    assert "the opportunity is gone" in (world.store.lineage[ids[0]][-1].detail or "")


async def test_a_leg_filtered_at_intake_denies_the_rest_of_its_unit() -> None:
    world = World()
    ids = world.unit()
    row = world.store.rows[ids[1]]
    world.store.rows[ids[1]] = msgspec.structs.replace(row, status=SignalStatus.FILTERED)

    await world.executor.execute_many(ids[:1])

    assert world.statuses(ids[:1]) == [SignalStatus.DENIED]
    assert "leg 2 (sell BTC/USDT on b) is filtered" in (
        world.store.lineage[ids[0]][-1].detail or ""
    )


async def test_a_unit_interrupted_after_its_first_fill_is_unwound_when_resumed() -> None:
    world = World()
    ids = world.unit()
    units = world.executor._units
    legs = world.store.unit("arb-1")
    ready, reasons = await checked(units._ctx, legs)
    assert reasons == []
    await units._send_entry(ready[0])

    await world.executor.execute_many(ids)  # the job's retry

    assert world.statuses(ids) == [SignalStatus.FAILED, SignalStatus.FAILED]
    assert world.btc("a") == 0
    assert "resumed" in world.store.steps(ids[0])


async def test_a_triangle_spends_in_each_leg_what_the_one_before_bought() -> None:
    usdt = Decimal(1000)
    markets = [
        MARKET,
        msgspec.structs.replace(ETH, amount_step=D("0.0001")),
        Market(
            "ETH/BTC",
            "ETH",
            "BTC",
            amount_step=D("0.0001"),
            min_amount=D("0.0001"),
            min_cost=D("0.0001"),
            price_step=D("0.00001"),
        ),
    ]
    books = {
        "BTC/USDT": book("99990x1", "100000x1"),
        "ETH/BTC": book("0.02999x100", "0.03x100", symbol="ETH/BTC"),  # ETH at 3,000 via BTC
        "ETH/USDT": book("3030x100", "3031x100", symbol="ETH/USDT"),  # and 3,030 for USDT
    }
    venue = OnRecordFirst(PaperVenue("t", markets, {"USDT": usdt}), books.__getitem__, lambda: NOW)
    store = venue.store = MemoryExecutionStore()
    executor = Executor(store=store, venues={"t": venue}, modes={"t": "paper"}, clock=lambda: NOW,
                        locks=NoLocks(), limits=RiskLimits(), sizing=SizingPolicy())  # fmt: skip
    kept: list[str] = []

    async def keep(signal: Signal) -> str:
        kept.append(f"01JX5Z3K8Q4W2N7R9T1V3B5C{len(kept):02d}")
        store.add(kept[-1], signal, NOW)
        return "queued"

    params = ArbitrageParams(notional=Decimal(500), triangle_start="USDT")
    scan = ArbitrageScanner({"t": venue}, params, keep, clock=lambda: NOW, new_id=lambda: "tri")
    (found,) = await scan.scan_once()
    assert [leg.symbol for leg in found.legs] == ["BTC/USDT", "ETH/BTC", "ETH/USDT"]

    statuses = await executor.execute_many(kept)

    assert set(statuses.values()) == {SignalStatus.EXECUTED}, [store.lineage[i][-1] for i in kept]
    wallets = venue.venue.balances()
    assert wallets["USDT"].free > usdt  # the round trip paid, fees included


async def test_a_unit_is_denied_while_a_bracket_of_its_symbol_is_in_doubt() -> None:
    """An entry on venue a got no answer and a does not know it: it may still enter, so no
    leg of a unit on that account and symbol is placed until it is settled."""
    world = World()
    doubt_id = "01JX5Z3K8Q4W2N7R9T1V3B5CZZ"  # an earlier signal's bracket, executed
    cid = f"sg{doubt_id}en00"
    lost = LegOrder(Leg.ENTRY, cid, Side.BUY, OrderKind.MARKET, AMOUNT, state=OrderState.UNKNOWN)
    world.store.save_bracket(
        Bracket(doubt_id, "default", "a", "BTC/USDT", Side.BUY, MARKET, NOW, orders=(lost,)), NOW
    )
    ids = world.unit()

    await world.executor.execute_many(ids)

    assert world.statuses(ids) == [SignalStatus.DENIED, SignalStatus.DENIED]
    detail = world.store.lineage[ids[0]][-1].detail or ""
    assert f"bracket {doubt_id} is in doubt" in detail
    assert f"signalgate orders resolve {cid} --found" in detail
    assert world.venues["a"].venue.open_orders() == []
    assert (world.btc("a"), world.btc("b")) == (D(0), AMOUNT)


async def test_an_unwind_that_leaves_a_residual_flattens_it() -> None:
    world = World(refusing_b=True)
    world.books["a"] = book("99990x0.002", "100000x1")  # the unwind sells into 0.002 of bids
    ids = world.unit()

    await world.executor.execute_many(ids)

    bought = world.store.brackets[ids[0]]
    assert world.btc("a") == 0  # the residual went too
    assert bought.state is BracketState.CLOSED
    assert bought.exited == AMOUNT
    assert world.statuses(ids) == [SignalStatus.FAILED, SignalStatus.FAILED]


async def test_an_unwind_residual_the_venue_cannot_take_yet_is_flattened_by_the_monitor() -> None:
    world = World(refusing_b=True)
    world.books["a"] = book("99990x0.002", "100000x1")
    orders = world.venues["a"].create_order

    async def bids_gone(request: OrderRequest) -> OrderStatus:
        status = await orders(request)
        if request.side == "sell":  # after the unwind's partial fill: no bids at all
            world.books["a"] = book("", "100000x1")
        return status

    world.venues["a"].create_order = bids_gone  # type: ignore[method-assign]
    ids = world.unit()
    await world.executor.execute_many(ids)
    bought = world.store.brackets[ids[0]]
    assert (bought.state, bought.closing) == (BracketState.UNPROTECTED, True)
    assert world.btc("a") == D("0.003")
    assert bought in world.store.open_brackets()  # the monitor's work until flat

    world.books["a"] = book("99990x1", "100000x1")
    monitor = BracketMonitor(
        store=world.store,
        venues=world.venues,
        driver=BracketDriver(world.store, world.clock),
        locks=NoLocks(),
    )
    await monitor.run_once()
    assert world.btc("a") == 0
    assert world.store.brackets[ids[0]].state is BracketState.CLOSED


async def test_a_units_legs_count_the_entries_other_workers_have_on_their_way() -> None:
    """Another worker's entry, approved and not on record yet, holds the account's last open
    position: the unit's legs are checked with it counted, as any entry is."""
    reserved = LocalReservations()
    other = Reservation("01JX5Z3K8Q4W2N7R9T1V3B5OTH", "a", "ETH/USDT", D(1_000), NOW + UNIT_WAIT)
    assert reserved.reserve("default", 0, other, NOW) is None
    world = World(limits=RiskLimits(max_open_positions=1), reservations=reserved)
    ids = world.unit()

    statuses = await world.executor.execute_many(ids)

    assert list(statuses.values()) == [SignalStatus.DENIED, SignalStatus.DENIED]
    assert "(MAX_OPEN_POSITIONS)" in (world.store.lineage[ids[0]][-1].detail or "")
    assert (world.btc("a"), world.btc("b")) == (D(0), D("0.005"))  # nothing placed


async def test_a_units_legs_are_reserved_while_they_are_sent_and_released_after() -> None:
    """Other workers' entries must see the unit's legs while they are on their way (each is an
    open position and exposure), and nothing is left reserved once the unit has run."""
    reserved = LocalReservations()
    world = World(reservations=reserved)
    seen: list[set[str]] = []
    venue = world.venues["a"]
    create = venue.create_order

    async def noting(request: OrderRequest) -> OrderStatus:
        seen.append({e.id for e in reserved.read("default", NOW).entries})
        return await create(request)

    venue.create_order = noting  # type: ignore[method-assign]
    ids = world.unit()

    statuses = await world.executor.execute_many(ids)

    assert list(statuses.values()) == [SignalStatus.EXECUTED, SignalStatus.EXECUTED]
    assert seen[0] == set(ids)  # both legs reserved when the first is sent
    assert reserved.read("default", NOW).entries == ()
