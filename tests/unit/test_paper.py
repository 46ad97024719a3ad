from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest

import app.domain.paper.fills as paper_fills
from app.domain.market import Market, OrderBook, Tick
from app.domain.orders import (
    IllegalTransition,
    OrderKind,
    OrderRequest,
    OrderState,
    Side,
    transition,
)
from app.domain.paper.state import (
    DuplicateClientOrderId,
    InsufficientPaperFunds,
    InvalidPaperOrder,
    OrderClosed,
    PaperOrderNotFound,
    PaperState,
)
from app.domain.paper.venue import PaperVenue
from tests.paper_helpers import SYMBOL, book, order

D = Decimal
NOW = datetime(2026, 1, 1, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
MARKET = Market(
    SYMBOL,
    "BTC",
    "USDT",
    amount_step=D("0.001"),
    price_step=D("0.01"),
    min_amount=D("0.001"),
    min_cost=D(10),
    taker_fee=D("0.001"),
    maker_fee=D("0.0005"),
)


STANDARD_BOOK = book(bids="99x1 98x2 97x5", asks="100x1 101x2 102x5")


def wallet(venue: PaperVenue, asset: str) -> tuple[D, D]:
    balance = venue.balances()[asset]
    return balance.free, balance.reserved


@pytest.fixture
def venue_with_book() -> PaperVenue:
    """50,000 USDT and 10 BTC, the standard book loaded."""
    venue = PaperVenue("paper", [MARKET], {"USDT": D(50_000), "BTC": D(10)})
    venue.on_book(STANDARD_BOOK, NOW)
    return venue


# --- market orders --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "amount", "fills", "cost", "average", "usdt", "btc"),
    [
        # cost 100 + 151.5 = 251.5, fee 0.2515 (taker 0.1%, in USDT)
        (Side.BUY, "2.5", [("100", "1"), ("101", "1.5")], "251.5", "100.6", "49748.2485", "12.5"),
        (Side.BUY, "1", [("100", "1")], "100", "100", "49899.9", "11"),
        # cost 99 + 196 + 97 = 392, fee 0.392, received 391.608
        (Side.SELL, "4", [("99", "1"), ("98", "2"), ("97", "1")], "392", "98", "50391.608", "6"),
    ],
)
def test_market_order_walks_the_book_at_exact_vwap_and_taker_fee(
    venue_with_book: PaperVenue,
    side: Side,
    amount: str,
    fills: list[tuple[str, str]],
    cost: str,
    average: str,
    usdt: str,
    btc: str,
) -> None:
    status = venue_with_book.create_order(order(side, OrderKind.MARKET, amount), NOW)

    assert status.state is OrderState.FILLED
    assert status.filled == D(amount)
    assert status.average_price == D(average)
    assert status.fee == D(cost) * D("0.001")
    assert status.fee_currency == "USDT"
    got = venue_with_book.fills_since(SYMBOL, NOW)
    assert [(f.price, f.amount) for f in got] == [(D(p), D(a)) for p, a in fills]
    assert sum(f.fee for f in got) == status.fee
    assert not any(f.maker for f in got)
    assert wallet(venue_with_book, "USDT") == (D(usdt), D(0))
    assert wallet(venue_with_book, "BTC") == (D(btc), D(0))


def test_market_order_expires_the_rest_when_depth_runs_out(venue_with_book: PaperVenue) -> None:
    status = venue_with_book.create_order(order(Side.BUY, OrderKind.MARKET, "10"), NOW)

    assert status.state is OrderState.EXPIRED
    assert status.filled == D(8)
    assert status.remaining == D(2)
    cost = D(100) + D(202) + D(510)
    assert wallet(venue_with_book, "USDT") == (D(50_000) - cost - cost * D("0.001"), D(0))
    assert wallet(venue_with_book, "BTC") == (D(18), D(0))


def test_market_order_on_an_empty_side_expires_unfilled() -> None:
    venue = PaperVenue("paper", [MARKET])
    venue.on_book(book(bids="99x1"), NOW)

    status = venue.create_order(order(Side.BUY, OrderKind.MARKET, "1"), NOW)

    assert (status.state, status.filled) == (OrderState.EXPIRED, D(0))
    assert wallet(venue, "USDT") == (D(50_000), D(0))


def test_market_order_without_a_book_is_refused() -> None:
    venue = PaperVenue("paper", [MARKET])
    with pytest.raises(InvalidPaperOrder, match="no order book"):
        venue.create_order(order(Side.BUY, OrderKind.MARKET, "1"), NOW)


# --- limit orders ---------------------------------------------------------------------------


def test_limit_buy_rests_reserves_and_fills_as_maker_when_crossed(
    venue_with_book: PaperVenue,
) -> None:
    placed = venue_with_book.create_order(order(Side.BUY, OrderKind.LIMIT, "1", price="99"), NOW)
    hold = D(99) + D(99) * D("0.0005")
    assert placed.state is OrderState.ACCEPTED
    assert wallet(venue_with_book, "USDT") == (D(50_000) - hold, hold)

    changed = venue_with_book.on_book(book(bids="97x1", asks="98.5x0.4 99.5x9"), LATER)
    assert [(s.state, s.filled) for s in changed] == [(OrderState.PARTIALLY_FILLED, D("0.4"))]

    changed = venue_with_book.on_book(book(bids="97x1", asks="98x5"), LATER)
    assert [(s.state, s.filled, s.average_price) for s in changed] == [
        (OrderState.FILLED, D(1), D(99))
    ]
    fills = venue_with_book.fills_since(SYMBOL, NOW)
    assert all(f.maker and f.price == D(99) for f in fills)
    assert sum(f.fee for f in fills) == D(99) * D("0.0005")
    assert wallet(venue_with_book, "USDT") == (D(50_000) - hold, D(0))
    assert wallet(venue_with_book, "BTC") == (D(11), D(0))
    assert venue_with_book.open_orders() == []


def test_marketable_limit_takes_up_to_its_price_then_rests(venue_with_book: PaperVenue) -> None:
    status = venue_with_book.create_order(order(Side.BUY, OrderKind.LIMIT, "4", price="101"), NOW)

    assert (status.state, status.filled) == (OrderState.PARTIALLY_FILLED, D(3))
    taken = D(100) + D(202)
    hold = D(101) + D(101) * D("0.0005")
    assert wallet(venue_with_book, "USDT") == (D(50_000) - taken - taken * D("0.001") - hold, hold)
    # the same book again brings no new liquidity
    assert venue_with_book.on_book(STANDARD_BOOK, LATER) == []
    # a new book is fresh liquidity: the rest fills there, as maker at its own price
    [rest] = venue_with_book.on_book(book(bids="99x1", asks="100x1 101x2"), LATER)
    assert (rest.state, rest.filled, rest.fee) == (
        OrderState.FILLED,
        D(4),
        taken * D("0.001") + D(101) * D("0.0005"),
    )
    assert wallet(venue_with_book, "USDT") == (D(50_000) - taken - taken * D("0.001") - hold, D(0))


def test_limit_sell_rests_on_base_and_fills_on_a_tick(venue_with_book: PaperVenue) -> None:
    placed = venue_with_book.create_order(order(Side.SELL, OrderKind.LIMIT, "2", price="105"), NOW)
    assert wallet(venue_with_book, "BTC") == (D(8), D(2))

    assert venue_with_book.on_tick(Tick(SYMBOL, LATER, D("104.99")), LATER) == []
    [filled] = venue_with_book.on_tick(Tick(SYMBOL, LATER, D(105)), LATER)

    assert (filled.order_id, filled.state) == (placed.order_id, OrderState.FILLED)
    assert wallet(venue_with_book, "BTC") == (D(8), D(0))
    assert wallet(venue_with_book, "USDT") == (D(50_000) + D(210) - D(210) * D("0.0005"), D(0))


# --- stops and take-profits ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "side", "trigger", "quiet", "crossing", "price"),
    [
        (OrderKind.STOP_MARKET, Side.SELL, "95", "bids=96x5", "bids=94x5", "94"),
        (OrderKind.TAKE_PROFIT_MARKET, Side.SELL, "110", "bids=109x5", "bids=111x5", "111"),
        (OrderKind.STOP_MARKET, Side.BUY, "110", "asks=109x5", "asks=111x5", "111"),
        (OrderKind.TAKE_PROFIT_MARKET, Side.BUY, "90", "asks=91x5", "asks=89x5", "89"),
    ],
)
def test_triggers_fire_on_the_right_side_and_fill_like_market_orders(
    venue_with_book: PaperVenue,
    kind: OrderKind,
    side: Side,
    trigger: str,
    quiet: str,
    crossing: str,
    price: str,
) -> None:
    placed = venue_with_book.create_order(order(side, kind, "1", trigger=trigger), NOW)
    assert placed.state is OrderState.ACCEPTED

    def moved(spec: str) -> OrderBook:
        where, levels = spec.split("=")
        return book(**{where: levels})

    assert venue_with_book.on_book(moved(quiet), LATER) == []
    [fired] = venue_with_book.on_book(moved(crossing), LATER)

    assert (fired.state, fired.filled, fired.average_price) == (OrderState.FILLED, D(1), D(price))
    assert fired.fee == D(price) * D("0.001")
    assert all(
        reserved == 0 for _, reserved in (wallet(venue_with_book, a) for a in ["BTC", "USDT"])
    )


@pytest.mark.parametrize(
    ("kind", "side", "trigger", "tick"),
    [
        (OrderKind.STOP_MARKET, Side.SELL, "95", "94.5"),
        (OrderKind.TAKE_PROFIT_MARKET, Side.SELL, "110", "110"),
    ],
)
def test_triggers_fire_on_ticks_and_fill_at_the_tick_without_a_book(
    kind: OrderKind, side: Side, trigger: str, tick: str
) -> None:
    venue = PaperVenue("paper", [MARKET], {"BTC": D(1)})
    venue.create_order(order(side, kind, "1", trigger=trigger), NOW)

    [fired] = venue.on_tick(Tick(SYMBOL, LATER, D(tick)), LATER)

    assert (fired.state, fired.average_price) == (OrderState.FILLED, D(tick))


def test_a_trigger_already_crossed_is_refused(venue_with_book: PaperVenue) -> None:
    with pytest.raises(InvalidPaperOrder, match="trigger immediately"):
        venue_with_book.create_order(
            order(Side.SELL, OrderKind.STOP_MARKET, "1", trigger="99.5"), NOW
        )


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (order(Side.SELL, OrderKind.MARKET, "10.001"), "insufficient BTC"),
        (order(Side.BUY, OrderKind.LIMIT, "600", price="90"), "insufficient USDT"),
        (order(Side.SELL, OrderKind.LIMIT, "11", price="120"), "insufficient BTC"),
        (order(Side.SELL, OrderKind.STOP_MARKET, "11", trigger="90"), "insufficient BTC"),
        (order(Side.BUY, OrderKind.STOP_MARKET, "500", trigger="110"), "insufficient USDT"),
    ],
)
def test_insufficient_free_balance_is_refused_and_nothing_kept(
    venue_with_book: PaperVenue, request_: OrderRequest, message: str
) -> None:
    before = venue_with_book.snapshot()
    with pytest.raises(InsufficientPaperFunds, match=message):
        venue_with_book.create_order(request_, NOW)
    assert venue_with_book.snapshot() == before


def test_a_market_buy_beyond_the_free_quote_is_refused() -> None:
    venue = PaperVenue("paper", [MARKET], {"USDT": D(250)})
    venue.on_book(STANDARD_BOOK, NOW)

    with pytest.raises(InsufficientPaperFunds, match=r"insufficient USDT: 302\.302000 needed"):
        venue.create_order(order(Side.BUY, OrderKind.MARKET, "3"), NOW)
    assert venue.open_orders() == []
    assert wallet(venue, "USDT") == (D(250), D(0))


def test_two_resting_sells_cannot_share_the_same_coins() -> None:
    venue = PaperVenue("paper", [MARKET], {"BTC": D(1)})
    venue.create_order(order(Side.SELL, OrderKind.STOP_MARKET, "1", trigger="90"), NOW)

    with pytest.raises(
        InsufficientPaperFunds, match=r"insufficient BTC: 1\.000 needed, 0\.000 free"
    ):
        venue.create_order(order(Side.SELL, OrderKind.TAKE_PROFIT_MARKET, "1", trigger="120"), NOW)


@pytest.mark.parametrize(
    ("amount", "price", "kept_amount", "kept_price"),
    [
        ("1.23456", "99.994", "1.234", "99.99"),
        ("1.2349999", "99.995", "1.234", "100.00"),
        ("0.0019", "99.996", "0.001", "100.00"),
    ],
)
def test_amounts_truncate_and_prices_round_to_the_steps(
    amount: str, price: str, kept_amount: str, kept_price: str
) -> None:
    venue = PaperVenue("paper", [msgspec.structs.replace(MARKET, min_cost=D(0))])

    status = venue.create_order(order(Side.BUY, OrderKind.LIMIT, amount, price=price), NOW)

    assert (status.amount, status.price) == (D(kept_amount), D(kept_price))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (order(Side.BUY, OrderKind.LIMIT, "0.0009", price="100"), "below the BTC/USDT step"),
        (order(Side.BUY, OrderKind.LIMIT, "0.05", price="100"), "cost 5.000 is below"),
        (order(Side.BUY, OrderKind.LIMIT, "1", price="0.004"), "rounds to 0"),
        (order(Side.BUY, OrderKind.LIMIT, "1"), "limit price must be a positive number"),
        (order(Side.SELL, OrderKind.STOP_MARKET, "1"), "trigger price must be a positive"),
        (order(Side.BUY, OrderKind.MARKET, "NaN"), "amount must be a positive number"),
        (order(Side.BUY, OrderKind.MARKET, "-1"), "amount must be a positive number"),
        (order(Side.BUY, OrderKind.MARKET, "Infinity"), "amount must be a positive number"),
        (msgspec.structs.replace(order(Side.BUY, OrderKind.MARKET, "1"), symbol="X/Y"), "X/Y"),
        (
            msgspec.structs.replace(order(Side.SELL, OrderKind.MARKET, "1"), reduce_only=True),
            "spot",
        ),
    ],
)
def test_invalid_orders_are_refused_with_one_sentence(
    venue_with_book: PaperVenue, request_: OrderRequest, message: str
) -> None:
    with pytest.raises(InvalidPaperOrder, match=message):
        venue_with_book.create_order(request_, NOW)


def test_below_the_minimum_amount_is_refused() -> None:
    venue = PaperVenue("paper", [msgspec.structs.replace(MARKET, min_amount=D("0.01"))])
    with pytest.raises(InvalidPaperOrder, match=r"below the BTC/USDT minimum of 0\.01"):
        venue.create_order(order(Side.BUY, OrderKind.LIMIT, "0.009", price="2000"), NOW)


# --- cancel, lookups, ids -------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_",
    [
        order(Side.BUY, OrderKind.LIMIT, "4", price="101"),  # partially filled, then cancelled
        order(Side.SELL, OrderKind.LIMIT, "2", price="120"),
        order(Side.SELL, OrderKind.STOP_MARKET, "2", trigger="90"),
        order(Side.BUY, OrderKind.TAKE_PROFIT_MARKET, "2", trigger="90"),
    ],
)
def test_cancel_releases_the_reservation(
    venue_with_book: PaperVenue, request_: OrderRequest
) -> None:
    placed = venue_with_book.create_order(request_, NOW)

    cancelled = venue_with_book.cancel_order(placed.order_id, LATER)

    assert cancelled.state is OrderState.CANCELLED
    assert cancelled.filled == placed.filled
    assert all(b.reserved == 0 for b in venue_with_book.balances().values())
    assert venue_with_book.open_orders(SYMBOL) == []
    with pytest.raises(OrderClosed, match="is cancelled"):
        venue_with_book.cancel_order(placed.order_id, LATER)


def test_cancelling_a_filled_or_unknown_order_is_an_error(venue_with_book: PaperVenue) -> None:
    filled = venue_with_book.create_order(order(Side.BUY, OrderKind.MARKET, "1"), NOW)

    with pytest.raises(OrderClosed, match="is filled"):
        venue_with_book.cancel_order(filled.order_id, LATER)
    with pytest.raises(PaperOrderNotFound, match="no order 999"):
        venue_with_book.cancel_order("999", LATER)
    with pytest.raises(PaperOrderNotFound):
        venue_with_book.order("999")


def test_a_client_order_id_is_used_once_per_venue(venue_with_book: PaperVenue) -> None:
    first = venue_with_book.create_order(
        order(Side.BUY, OrderKind.MARKET, "1", client_id="sgABCentry0"), NOW
    )

    with pytest.raises(DuplicateClientOrderId, match="sgABCentry0 is already used"):
        venue_with_book.create_order(
            order(Side.SELL, OrderKind.MARKET, "1", client_id="sgABCentry0"), NOW
        )
    assert venue_with_book.order_by_client_id("sgABCentry0") == first
    assert venue_with_book.order(first.order_id) == first
    assert venue_with_book.order_by_client_id("sgNOPE") is None


def test_a_refused_order_keeps_no_client_order_id(venue_with_book: PaperVenue) -> None:
    with pytest.raises(InsufficientPaperFunds):
        venue_with_book.create_order(order(Side.SELL, OrderKind.MARKET, "99", client_id="x"), NOW)

    assert venue_with_book.order_by_client_id("x") is None
    placed = venue_with_book.create_order(
        order(Side.SELL, OrderKind.MARKET, "1", client_id="x"), NOW
    )
    assert placed.state is OrderState.FILLED


# --- state machine --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "new"),
    [
        (OrderState.FILLED, OrderState.CANCELLED),
        (OrderState.CANCELLED, OrderState.FILLED),
        (OrderState.EXPIRED, OrderState.PARTIALLY_FILLED),
        (OrderState.ACCEPTED, OrderState.SUBMITTED),
    ],
)
def test_illegal_transitions_are_refused(current: OrderState, new: OrderState) -> None:
    with pytest.raises(IllegalTransition):
        transition(current, new)


def test_every_state_change_goes_through_the_transition_table(
    venue_with_book: PaperVenue, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[OrderState, OrderState]] = []

    def recording(current: OrderState, new: OrderState) -> OrderState:
        seen.append((current, new))
        return transition(current, new)

    monkeypatch.setattr(paper_fills, "transition", recording)
    venue_with_book.create_order(order(Side.BUY, OrderKind.MARKET, "10"), NOW)
    resting = venue_with_book.create_order(order(Side.BUY, OrderKind.LIMIT, "1", price="90"), NOW)
    venue_with_book.cancel_order(resting.order_id, LATER)

    s = OrderState
    assert seen == [
        (s.SUBMITTED, s.PARTIALLY_FILLED),
        (s.PARTIALLY_FILLED, s.EXPIRED),
        (s.SUBMITTED, s.ACCEPTED),
        (s.ACCEPTED, s.CANCELLED),
    ]


# --- snapshot and restore -------------------------------------------------------------------


def test_restore_gives_an_identical_venue_that_behaves_the_same(
    venue_with_book: PaperVenue,
) -> None:
    venue_with_book.create_order(order(Side.BUY, OrderKind.MARKET, "2"), NOW)
    venue_with_book.create_order(order(Side.BUY, OrderKind.LIMIT, "1", price="98.5"), NOW)
    venue_with_book.create_order(order(Side.SELL, OrderKind.STOP_MARKET, "3", trigger="95"), NOW)
    state = venue_with_book.snapshot()
    stored = msgspec.json.encode(state)

    restored = PaperVenue.restore(msgspec.json.decode(stored, type=PaperState))

    assert restored.snapshot() == state
    moved = book(bids="94x10", asks="98x10")
    assert restored.on_book(moved, LATER) == venue_with_book.on_book(moved, LATER)
    follow_up = order(Side.SELL, OrderKind.MARKET, "1", client_id="after")
    assert restored.create_order(follow_up, LATER) == venue_with_book.create_order(follow_up, LATER)
    assert restored.snapshot() == venue_with_book.snapshot()


def test_a_snapshot_shares_nothing_with_the_venue(venue_with_book: PaperVenue) -> None:
    state = venue_with_book.snapshot()
    venue_with_book.create_order(order(Side.BUY, OrderKind.LIMIT, "1", price="90"), NOW)

    assert state.orders == ()
    assert {b.asset: b.free for b in state.balances} == {"USDT": D(50_000), "BTC": D(10)}
