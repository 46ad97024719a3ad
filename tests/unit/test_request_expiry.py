"""An order saved before it was sent and never confirmed: on a venue whose requests expire, two
misses spanning the expiry settle it as gone, never re-sent; without an expiry it stays in doubt.
And a holder whose lease may have lapsed sends nothing (issue 13 item 1)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.adapters.paper.exchange import PaperExchange
from app.domain.brackets.bracket import Bracket, BracketState, LegOrder
from app.domain.market import Market
from app.domain.orders import Leg, OrderKind, OrderRequest, OrderState, OrderStatus, Side
from app.domain.paper.venue import PaperVenue
from app.ports.errors import LeaseLapsed
from app.ports.execution import lock_key
from app.ports.leases import leased
from app.services.brackets.driver import BracketDriver
from app.services.brackets.misses import Misses
from tests.fakes_execution import MemoryExecutionStore
from tests.paper_helpers import book

pytestmark = pytest.mark.anyio
D = Decimal
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
MARKET = Market("BTC/USDT", "BTC", "USDT", amount_step=D("0.001"), min_cost=D(10))
CID = "sg01KDEXPIRY0000000000000001en00"
EXPIRY = 5.5  # e.g. Binance's recvWindow (5 s) and the adapter's margin


class Clock:
    def __init__(self) -> None:
        self.at = 100.0

    def __call__(self) -> float:
        return self.at


class Expiring(PaperExchange):
    """A paper venue whose requests expire, as Binance's do."""

    request_expiry_seconds = EXPIRY
    creates = 0

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        Expiring.creates += 1
        return await super().create_order(request)


class Lease:
    def __init__(self, held: bool) -> None:
        self.held = held

    def still_held(self) -> bool:
        return self.held


def venue(cls: type[PaperExchange] = PaperExchange) -> PaperExchange:
    paper = PaperVenue("paper", [MARKET], {"USDT": D(50_000)})
    return cls(paper, lambda symbol: book(bids="99.5x1", asks="100x1"), lambda: NOW)


def recorded(state: OrderState = OrderState.SUBMITTED) -> Bracket:
    """A bracket whose entry was saved before it was sent, by a worker that died then."""
    entry = LegOrder(Leg.ENTRY, CID, Side.BUY, OrderKind.MARKET, D("0.2"), state=state)
    return Bracket("01KDEXPIRY0000000000000001", "default", "paper", "BTC/USDT", Side.BUY,
                   MARKET, NOW, stop_loss=D(95), orders=(entry,))  # fmt: skip


def driver() -> tuple[BracketDriver, MemoryExecutionStore, Clock]:
    store, clock = MemoryExecutionStore(), Clock()
    return BracketDriver(store, lambda: NOW, misses=Misses(clock)), store, clock


@pytest.mark.parametrize("state", [OrderState.SUBMITTED, OrderState.UNKNOWN])
async def test_an_order_missing_across_the_request_expiry_is_settled_as_gone(
    state: OrderState,
) -> None:
    driving, store, clock = driver()
    expiring = venue(Expiring)
    Expiring.creates = 0
    bracket = recorded(state)
    store.save_bracket(bracket, NOW)

    bracket = await driving.drive(bracket, expiring)  # the first miss
    assert bracket.order(CID).state is OrderState.UNKNOWN  # in doubt meanwhile
    clock.at += EXPIRY - 0.25
    bracket = await driving.drive(bracket, expiring)  # not yet past the expiry
    assert bracket.order(CID).state is OrderState.UNKNOWN
    clock.at += 0.25
    bracket = await driving.drive(bracket, expiring)

    assert bracket.order(CID).state is OrderState.EXPIRED
    assert bracket.state is BracketState.FAILED  # nothing held: the bracket ends
    assert Expiring.creates == 0  # never sent again
    assert await expiring.open_orders() == []
    [step] = [s for s in store.lineage[bracket.id] if s.step == "doubt_resolved"]
    assert "settled as gone by its request expiry" in (step.detail or "")


async def test_without_a_request_expiry_the_order_stays_in_doubt() -> None:
    driving, store, clock = driver()
    paper = venue()
    assert paper.request_expiry_seconds is None
    bracket = recorded()
    store.save_bracket(bracket, NOW)
    for _ in range(3):
        bracket = await driving.drive(bracket, paper)
        clock.at += 3600

    assert bracket.order(CID).state is OrderState.UNKNOWN
    assert bracket.state is BracketState.OPENING
    assert await paper.fetch_order_by_client_id("BTC/USDT", CID) is None


async def test_a_holder_whose_lease_may_have_lapsed_sends_nothing() -> None:
    driving, store, _ = driver()
    paper = venue()
    bracket = recorded()
    key = lock_key(bracket.account, bracket.symbol)

    with leased(key, Lease(held=False)), pytest.raises(LeaseLapsed, match="may have lapsed"):
        await driving.create(bracket, bracket.order(CID), paper)

    assert await paper.fetch_order_by_client_id("BTC/USDT", CID) is None  # nothing sent
    assert store.brackets[bracket.id].order(CID).state is OrderState.SUBMITTED  # on record


async def test_a_held_lease_sends_and_another_keys_lease_does_not_matter() -> None:
    driving, _, _ = driver()
    paper = venue()
    bracket = recorded()
    key = lock_key(bracket.account, bracket.symbol)

    with leased(key, Lease(held=True)), leased("default:ETH/USDT", Lease(held=False)):
        status = await driving.create(bracket, bracket.order(CID), paper)

    assert status.state is OrderState.FILLED
