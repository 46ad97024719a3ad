"""Money-safety holes closed in execution: entries without a stop-loss, the kill switch against
reverses, route fallbacks through the risk gate, live routes never dropping to paper."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from app.domain.brackets.bracket import BracketState
from app.domain.execution_policy import EntryPolicy, ExecutionPolicy
from app.domain.market import Market
from app.domain.orders import Leg, OrderRequest, OrderStatus
from app.domain.reservations import Reservation, Reserved
from app.domain.risk_values import RiskLimits, TradingState
from app.domain.signals import Action, SignalStatus
from app.ports.errors import Fatal, Retryable
from app.ports.reservations import LocalReservations
from tests.fakes_execution import OnRecordFirst
from tests.unit.test_execution import NOW, World, alert

pytestmark = pytest.mark.anyio
D = Decimal
BOOK = "99990x1|100000x1"


async def test_an_entry_without_a_stop_loss_is_denied_when_one_is_required() -> None:
    world = World(limits=RiskLimits(require_stop_loss=True), a=BOOK)
    signal_id = await world.send(alert(stop_loss=None))
    assert world.store.rows[signal_id].status is SignalStatus.DENIED
    decision = world.store.lineage[signal_id][-1]
    failed = [c for c in decision.data["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["stop_loss_required"]
    assert "without a stop-loss is refused (REQUIRE_STOP_LOSS)" in decision.detail
    assert signal_id not in world.store.brackets
    assert not world.venues["a"].venue.fills_since("BTC/USDT", NOW)


async def test_the_default_stop_loss_percent_gives_an_entry_its_stop() -> None:
    limits = RiskLimits(require_stop_loss=True, default_stop_loss_percent=D(2))
    world = World(limits=limits, a=BOOK)
    signal_id = await world.send(alert(stop_loss=None))
    assert world.store.rows[signal_id].status is SignalStatus.EXECUTED
    bracket = world.store.brackets[signal_id]
    assert bracket.stop_loss == D(98_000)  # 2% under the fill at 100,000
    [stop] = [o for o in bracket.orders if o.leg is Leg.STOP_LOSS]
    assert stop.trigger_price == D(98_000)


async def test_an_alert_stop_loss_wins_over_the_default() -> None:
    world = World(limits=RiskLimits(default_stop_loss_percent=D(2)), a=BOOK)
    signal_id = await world.send(alert())
    assert world.store.brackets[signal_id].stop_loss == D(95_000)


async def test_a_reverse_while_halted_places_no_order() -> None:
    world = World(a=BOOK)
    opened = await world.send(alert())
    world.store.state = TradingState.HALTED
    reversed_ = await world.send(alert(Action.REVERSE, take_profits=(), stop_loss=None))
    assert world.store.rows[reversed_].status is SignalStatus.DENIED
    assert "trading is halted" in world.store.lineage[reversed_][-1].detail
    assert world.store.brackets[opened].state is BracketState.OPEN  # not flattened
    assert not world.store.brackets[opened].closing
    assert len(world.venues["a"].venue.fills_since("BTC/USDT", NOW)) == 1  # the entry alone


async def test_an_opposite_entry_under_entry_policy_reverse_while_halted_places_no_order() -> None:
    world = World(ExecutionPolicy(entry_policy=EntryPolicy.REVERSE), a=BOOK)
    opened = await world.send(alert())
    world.store.state = TradingState.HALTED
    short = await world.send(alert(Action.SELL, alert_id="2", take_profits=(), stop_loss=None))
    assert world.store.rows[short].status is SignalStatus.DENIED
    decision = world.store.lineage[short][-1]
    assert [c["name"] for c in decision.data["checks"]] == ["trading_state"]
    assert world.store.brackets[opened].state is BracketState.OPEN
    assert len(world.venues["a"].venue.fills_since("BTC/USDT", NOW)) == 1


async def test_an_entry_policy_reverse_on_a_halted_account_flattens_nothing() -> None:
    """The account's own halt, like the global one, keeps its position as it is: the entry
    policy's flatten-first is not sent before the risk gate refuses the entry."""
    world = World(ExecutionPolicy(entry_policy=EntryPolicy.REVERSE), a=BOOK)
    opened = await world.send(alert())
    world.store.account_states["default"] = TradingState.HALTED
    short = await world.send(alert(Action.SELL, alert_id="2", take_profits=(), stop_loss=None))
    assert world.store.rows[short].status is SignalStatus.DENIED
    decision = world.store.lineage[short][-1]
    assert [c["name"] for c in decision.data["checks"]] == ["trading_state"]
    assert "halted for account default" in decision.detail
    assert world.store.brackets[opened].state is BracketState.OPEN
    assert not world.store.brackets[opened].closing
    assert len(world.venues["a"].venue.fills_since("BTC/USDT", NOW)) == 1


async def test_a_close_on_a_halted_account_is_denied_saying_how_to_resume_it() -> None:
    world = World(a=BOOK)
    opened = await world.send(alert())
    world.store.account_states["default"] = TradingState.HALTED
    closing = await world.send(alert(Action.CLOSE, alert_id="2", take_profits=(), stop_loss=None))
    assert world.store.rows[closing].status is SignalStatus.DENIED
    detail = world.store.lineage[closing][-1].detail or ""
    assert "halted for account default (`signalgate accounts resume default`)" in detail
    assert not world.store.brackets[opened].closing


class Refusing(OnRecordFirst):
    """A paper venue that refuses every entry, as a venue in maintenance does."""

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        raise Fatal(f"{self.name} refuses {request.client_order_id}: maintenance")


def refusing(world: World, name: str) -> None:
    old = world.venues[name]
    venue = Refusing(old.venue, world.books.for_venue(name), lambda: NOW)
    venue.store = world.store
    world.venues[name] = venue


async def test_a_fallback_venue_passes_the_risk_gate_on_its_own_prices() -> None:
    # b is cheaper and chosen, but refuses; a quotes 3% away from the alert, outside the 2% band
    world = World(a="102990x1|103000x1", b=BOOK)
    refusing(world, "b")
    signal_id = await world.send(alert(price=D(100_000)))
    steps = world.store.lineage[signal_id]
    assert world.store.rows[signal_id].status is SignalStatus.FAILED
    assert not world.venues["a"].venue.fills_since("BTC/USDT", NOW)  # nothing on a
    [denied] = [s for s in steps if s.detail.startswith("a, the next venue, is denied")]
    assert "outside the 2% band (PRICE_BAND_PERCENT)" in denied.detail
    assert any(s.step == "order_refused" for s in steps)


async def test_a_fallback_venue_within_the_gate_takes_the_entry() -> None:
    world = World(a="99990x1|100010x1", b=BOOK)
    refusing(world, "b")
    signal_id = await world.send(alert(price=D(100_000)))
    assert world.store.rows[signal_id].status is SignalStatus.EXECUTED
    assert world.store.brackets[signal_id].venue == "a"


class Unreadable(OnRecordFirst):
    """A venue whose market list cannot be read (down, or its circuit open, with no list read
    before)."""

    async def markets(self) -> dict[str, Market]:
        raise Retryable(f"{self.name}: exchangeInfo answered 503")


async def test_a_live_venue_whose_markets_cannot_be_read_never_lets_paper_take_the_order() -> None:
    world = World(modes={"live1": "live", "paper": "paper"}, live1=BOOK, paper=BOOK)
    old = world.venues["live1"]
    world.venues["live1"] = Unreadable(old.venue, world.books.for_venue("live1"), lambda: NOW)
    signal_id = await world.send(alert())
    assert world.store.rows[signal_id].status is SignalStatus.DENIED
    detail = world.store.lineage[signal_id][-1].detail
    assert "live1: its markets could not be read" in detail
    assert "paper: it is a paper venue and a live venue lists or may list BTC/USDT" in detail
    assert signal_id not in world.store.brackets
    assert not world.venues["paper"].venue.fills_since("BTC/USDT", NOW)


class Overtaken(LocalReservations):
    """The first entry's reservation is taken; after it, other workers' entries keep being
    reserved first (every later reserve finds a newer version)."""

    def reserve(
        self, account: str, version: int, entry: Reservation, now: datetime
    ) -> Reserved | None:
        if self.read(account, now).version == 0:
            return super().reserve(account, version, entry, now)
        return Reserved(version + 1, ())


async def test_a_fallback_venue_overtaken_by_other_entries_fails_the_signal_not_executes_it() -> (
    None
):
    """Its reservation could not be taken: the job must not end with a refused bracket and a
    retry that reads it as begun and records the signal executed with nothing placed."""
    world = World(a="99990x1|100010x1", b=BOOK, reservations=Overtaken())
    refusing(world, "b")

    signal_id = await world.send(alert(price=D(100_000)))

    assert world.store.rows[signal_id].status is SignalStatus.FAILED
    [denied] = [s for s in world.store.lineage[signal_id]
                if s.detail.startswith("a, the next venue, is denied")]  # fmt: skip
    assert "other entries were approved 50 times" in denied.detail
    assert not world.venues["a"].venue.fills_since("BTC/USDT", NOW)
