"""The paper venue's change tracking (what a store must write after each call) and pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.domain.market import Market
from app.domain.orders import OrderKind, OrderRequest, OrderState, Side
from app.domain.paper.state import (
    InsufficientPaperFunds,
    InvalidPaperOrder,
    PaperChanges,
    PaperOrderNotFound,
)
from app.domain.paper.venue import PaperVenue
from tests.paper_helpers import SYMBOL, book, order

D = Decimal
NOW = datetime(2026, 1, 1, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
MARKET = Market(SYMBOL, "BTC", "USDT", amount_step=D("0.001"), taker_fee=D("0.001"))


@pytest.fixture
def venue() -> PaperVenue:
    """10,000 USDT and 1 BTC, a book loaded, its first changes (the new venue) taken."""
    venue = PaperVenue("paper", [MARKET], {"USDT": D(10_000), "BTC": D(1)})
    venue.on_book(book(bids="99x1 98x2", asks="100x1 101x2"), NOW)
    venue.changes()
    return venue


def test_a_new_venue_reports_its_markets_balances_and_first_number_once() -> None:
    venue = PaperVenue("paper", [MARKET], {"USDT": D(10_000)})

    first = venue.changes()

    assert first.markets == (MARKET,)
    assert [(b.asset, b.free) for b in first.balances] == [("USDT", D(10_000))]
    assert first.next_order_number == 1
    assert (first.orders, first.fills) == ((), ())
    assert venue.changes().empty


def test_a_market_order_reports_its_order_both_wallets_and_its_fills(venue: PaperVenue) -> None:
    placed = venue.create_order(order(Side.BUY, OrderKind.MARKET, "1.5"), NOW)

    changes = venue.changes()

    assert [(o.order_id, o.state, o.filled) for o in changes.orders] == [
        (placed.order_id, OrderState.FILLED, D("1.5"))
    ]
    assert {b.asset: b.free for b in changes.balances} == {
        "USDT": D(10_000) - D("150.5") - D("0.1505"),
        "BTC": D("2.5"),
    }
    assert [(f.price, f.amount) for f in changes.fills] == [(D(100), D(1)), (D(101), D("0.5"))]
    assert changes.next_order_number == 2
    assert changes.markets is None
    assert venue.changes().empty


def test_a_resting_limit_reports_only_the_wallet_it_holds_from(venue: PaperVenue) -> None:
    venue.create_order(order(Side.SELL, OrderKind.LIMIT, "0.5", price="120"), NOW)

    changes = venue.changes()

    assert [(o.state, o.reserved) for o in changes.orders] == [(OrderState.ACCEPTED, D("0.5"))]
    assert [(b.asset, b.free, b.reserved) for b in changes.balances] == [
        ("BTC", D("0.5"), D("0.5"))
    ]
    assert changes.fills == ()


def test_a_new_book_that_fills_a_resting_order_reports_it(venue: PaperVenue) -> None:
    venue.create_order(order(Side.SELL, OrderKind.LIMIT, "0.5", price="120"), NOW)
    venue.changes()

    venue.on_book(book(bids="121x1", asks="122x1"), LATER)
    changes = venue.changes()

    assert [o.state for o in changes.orders] == [OrderState.FILLED]
    assert {b.asset for b in changes.balances} == {"BTC", "USDT"}
    assert [(f.price, f.maker) for f in changes.fills] == [(D(120), True)]
    assert changes.next_order_number is None  # no new order


def test_a_cancel_reports_the_order_and_the_released_wallet(venue: PaperVenue) -> None:
    placed = venue.create_order(order(Side.BUY, OrderKind.LIMIT, "1", price="90"), NOW)
    venue.changes()

    venue.cancel_order(placed.order_id, LATER)
    changes = venue.changes()

    assert [(o.state, o.reserved) for o in changes.orders] == [(OrderState.CANCELLED, D(0))]
    assert [(b.asset, b.reserved) for b in changes.balances] == [("USDT", D(0))]


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (order(Side.SELL, OrderKind.MARKET, "5"), InsufficientPaperFunds),
        (order(Side.SELL, OrderKind.STOP_MARKET, "0.5", trigger="99.5"), InvalidPaperOrder),
        (order(Side.BUY, OrderKind.STOP_MARKET, "500", trigger="150"), InsufficientPaperFunds),
    ],
)
def test_a_refused_order_changes_nothing(
    venue: PaperVenue, request_: OrderRequest, error: type[Exception]
) -> None:
    with pytest.raises(error):
        venue.create_order(request_, NOW)

    assert venue.changes().empty
    assert set(venue.balances()) == {"USDT", "BTC"}


def test_changes_are_copies_the_venue_no_longer_touches(venue: PaperVenue) -> None:
    placed = venue.create_order(order(Side.BUY, OrderKind.LIMIT, "1", price="90"), NOW)
    changes = venue.changes()

    venue.cancel_order(placed.order_id, LATER)

    assert changes.orders[0].state is OrderState.ACCEPTED
    assert changes.balances[0].reserved == D("90.09")  # with the maker fee


def test_requeued_changes_come_back_merged_with_what_happened_since(venue: PaperVenue) -> None:
    placed = venue.create_order(order(Side.BUY, OrderKind.LIMIT, "1", price="90"), NOW)
    bought = venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.5"), NOW)
    failed = venue.changes()
    venue.cancel_order(placed.order_id, LATER)
    sold = venue.create_order(order(Side.SELL, OrderKind.MARKET, "0.2"), LATER)

    venue.requeue(failed)
    changes = venue.changes()

    by_id = {o.order_id: o for o in changes.orders}
    assert set(by_id) == {placed.order_id, bought.order_id, sold.order_id}
    assert by_id[placed.order_id].state is OrderState.CANCELLED  # as it is now
    assert [f.order_id for f in changes.fills] == [bought.order_id, sold.order_id]
    assert changes.next_order_number == 4
    assert {b.asset: b.free for b in changes.balances} == {
        a: b.free for a, b in venue.balances().items()
    }
    assert venue.changes().empty


def test_a_requeued_first_save_keeps_the_markets(venue: PaperVenue) -> None:
    fresh = PaperVenue("paper", [MARKET], {})
    first = fresh.changes()

    fresh.requeue(first)

    assert fresh.changes() == first


def test_a_restored_venue_has_nothing_to_save(venue: PaperVenue) -> None:
    venue.create_order(order(Side.BUY, OrderKind.MARKET, "1"), NOW)

    restored = PaperVenue.restore(venue.snapshot())

    assert restored.changes() == PaperChanges()


def test_prune_forgets_old_closed_orders_and_fills_and_keeps_open_ones(
    venue: PaperVenue,
) -> None:
    old = venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.5", client_id="old"), NOW)
    resting = venue.create_order(order(Side.BUY, OrderKind.LIMIT, "1", price="90"), NOW)
    recent = venue.create_order(order(Side.SELL, OrderKind.MARKET, "0.2"), LATER)
    assert venue.history_since is None
    assert venue.prune(NOW) == 0  # nothing older than NOW
    assert venue.history_since is None

    assert venue.prune(LATER) == 2  # the old order and its one fill

    assert venue.history_since == LATER
    assert venue.order_by_client_id("old") is None
    with pytest.raises(PaperOrderNotFound):
        venue.order(old.order_id)
    assert venue.order(resting.order_id).state is OrderState.ACCEPTED
    assert venue.order(recent.order_id).state is OrderState.FILLED
    assert [f.order_id for f in venue.fills_since(SYMBOL, NOW)] == [recent.order_id]
    assert [o.order_id for o in venue.open_orders()] == [resting.order_id]


def test_prune_with_keep_leaves_only_the_newest_closed_orders_and_fills(
    venue: PaperVenue,
) -> None:
    resting = venue.create_order(order(Side.BUY, OrderKind.LIMIT, "1", price="90"), NOW)
    for second in range(10):  # ten market orders of one fill each, a second apart
        side = Side.BUY if second % 2 else Side.SELL
        at = NOW + timedelta(seconds=second)
        venue.create_order(order(side, OrderKind.MARKET, "0.1", client_id=f"m{second}"), at)

    assert venue.history_size == 20
    assert venue.prune(NOW, keep=3) == 14  # seven orders and their seven fills

    assert venue.history_size == 6
    assert venue.history_since == NOW + timedelta(seconds=7)
    assert venue.order_by_client_id("m6") is None
    assert venue.order_by_client_id("m7") is not None
    kept = venue.fills_since(SYMBOL, NOW)
    assert [f.client_order_id for f in kept] == ["m7", "m8", "m9"]
    assert [o.order_id for o in venue.open_orders()] == [resting.order_id]
    assert venue.prune(NOW, keep=3) == 0  # within the bound already


def test_a_pruned_order_not_yet_saved_is_still_saved(venue: PaperVenue) -> None:
    placed = venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.5"), NOW)

    venue.prune(LATER)
    changes = venue.changes()

    assert [o.order_id for o in changes.orders] == [placed.order_id]
    assert len(changes.fills) == 1


def test_a_pruned_order_keeps_the_status_it_had(venue: PaperVenue) -> None:
    venue.create_order(order(Side.BUY, OrderKind.MARKET, "0.5", client_id="old"), NOW)
    kept = venue.snapshot().orders[0]
    before = venue.order_by_client_id("old")

    venue.prune(LATER)

    assert venue.status_of(kept) == before
