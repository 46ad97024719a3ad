"""Arbitrage detection on crafted books where the right answer is known."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.arbitrage import (
    ArbKind,
    ArbLeg,
    VenueBook,
    best_triangular,
    direct_arbitrage,
    triangles,
    triangular_arbitrage,
)
from app.domain.market import Level, Market, MarketKind, OrderBook
from app.domain.orders import Side

D = Decimal
FEE = D("0.001")


def book(symbol: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> OrderBook:
    return OrderBook(
        symbol,
        tuple(Level(D(p), D(a)) for p, a in bids),
        tuple(Level(D(p), D(a)) for p, a in asks),
    )


def venue(name: str, bid: str, ask: str, fee: Decimal = FEE, depth: str = "10") -> VenueBook:
    return VenueBook(name, book("BTC/USDT", [(bid, depth)], [(ask, depth)]), fee, "USDT")


# --- direct -----------------------------------------------------------------------------------


def test_direct_buys_the_cheaper_asks_and_sells_the_richer_bids_net_of_both_fees() -> None:
    found = direct_arbitrage([venue("a", "99", "100"), venue("b", "101", "102")], D(1))
    assert found is not None
    assert found.kind is ArbKind.DIRECT
    assert found.legs == (
        ArbLeg("a", "BTC/USDT", Side.BUY, D(1), D(100), FEE),
        ArbLeg("b", "BTC/USDT", Side.SELL, D(1), D(101), FEE),
    )
    assert (found.currency, found.spent, found.received) == ("USDT", D("100.1"), D("100.899"))
    assert found.profit == D("100.899") / D("100.1") - 1  # 0.798%


@pytest.mark.parametrize(
    ("fee", "found"),
    [
        (D(0), True),  # 1% gross
        (D("0.003"), True),  # 101 * 0.997 / (100 * 1.003) - 1 = 0.39%
        (D("0.004"), False),  # 0.195%: below the 0.2% minimum
        (D("0.005"), False),  # a loss
    ],
)
def test_fees_on_both_legs_can_kill_a_direct_arbitrage(fee: Decimal, found: bool) -> None:
    books = [venue("a", "99", "100", fee), venue("b", "101", "102", fee)]
    assert (direct_arbitrage(books, D(1)) is not None) is found


def test_depth_can_kill_a_direct_arbitrage() -> None:
    cheap = VenueBook("a", book("BTC/USDT", [("99", "5")], [("100", "0.1"), ("101.5", "10")]), FEE)
    rich = venue("b", "101", "102")
    small = direct_arbitrage([cheap, rich], D("0.1"))
    assert small is not None
    assert small.legs[0].average_price == D(100)
    # 1 BTC walks the asks: 0.1 at 100 and 0.9 at 101.5, an average of 101.35, above the bid.
    assert direct_arbitrage([cheap, rich], D(1)) is None
    assert direct_arbitrage([cheap, rich], D(1), min_profit=D(-1)) is not None
    # More than the books hold: no opportunity at any price.
    assert direct_arbitrage([cheap, rich], D(20), min_profit=D(-1)) is None


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_direct_picks_the_best_pair_whatever_the_order_of_venues(order: tuple[int, ...]) -> None:
    venues = [venue("a", "99", "100"), venue("b", "102", "103"), venue("c", "101.5", "101.6")]
    found = direct_arbitrage([venues[i] for i in order], D(1))
    assert found is not None
    assert [(leg.venue, leg.side) for leg in found.legs] == [("a", Side.BUY), ("b", Side.SELL)]


def test_direct_needs_one_symbol_and_a_positive_amount() -> None:
    other = VenueBook("b", book("ETH/USDT", [("101", "1")], [("102", "1")]), FEE)
    with pytest.raises(ValueError, match="one symbol"):
        direct_arbitrage([venue("a", "99", "100"), other], D(1))
    with pytest.raises(ValueError, match="positive"):
        direct_arbitrage([venue("a", "99", "100")], D(0))
    assert direct_arbitrage([venue("a", "99", "100")], D(1)) is None  # one venue: nothing
    assert direct_arbitrage([venue("a", "101", "100")], D(1)) is None  # never with itself


@given(
    mid=st.decimals("0.01", "100000", places=2),
    spreads=st.lists(st.decimals("0", "0.05", places=4), min_size=2, max_size=4),
    fee=st.decimals("0", "0.01", places=4),
)
def test_no_direct_arbitrage_among_venues_quoting_around_one_price(
    mid: Decimal, spreads: list[Decimal], fee: Decimal
) -> None:
    books = [
        venue(f"v{i}", str(mid * (1 - s)), str(mid * (1 + s)), fee) for i, s in enumerate(spreads)
    ]
    assert direct_arbitrage(books, D(1), min_profit=D("1e-12")) is None


# --- triangular -------------------------------------------------------------------------------


def spot(symbol: str, fee: Decimal = FEE, *, active: bool = True) -> Market:
    base, quote = symbol.split("/")
    return Market(symbol, base, quote, active=active, taker_fee=fee)


MARKETS = {s: spot(s) for s in ("BTC/USDT", "ETH/BTC", "ETH/USDT")}


def triangle_books(eth_bids: list[tuple[str, str]], eth_ask: str) -> dict[str, OrderBook]:
    """BTC/USDT at 49,990/50,000 and ETH/BTC at 0.0499/0.05: ETH/USDT is fair at 2,500."""
    return {
        "BTC/USDT": book("BTC/USDT", [("49990", "10")], [("50000", "10")]),
        "ETH/BTC": book("ETH/BTC", [("0.0499", "100")], [("0.05", "100")]),
        "ETH/USDT": book("ETH/USDT", eth_bids, [(eth_ask, "100")]),
    }


def test_a_fair_triangle_has_no_opportunity_either_way() -> None:
    books = triangle_books([("2500", "100")], "2501")  # 50,000 x 0.05 = 2,500
    assert best_triangular("x", "USDT", MARKETS, books, D(1000)) is None
    loss = triangular_arbitrage(
        "x", ["USDT", "BTC", "ETH"], MARKETS, books, D(1000), min_profit=D(-1)
    )
    assert loss is not None
    assert loss.profit == D("0.999") ** 3 - 1  # exactly the three fees, at fair prices


def test_a_rich_eth_usdt_bid_yields_usdt_btc_eth_usdt_net_of_three_fees() -> None:
    books = triangle_books([("2560", "100")], "2561")
    found = triangular_arbitrage("x", ["USDT", "BTC", "ETH"], MARKETS, books, D(1000))
    assert found is not None
    assert found.kind is ArbKind.TRIANGULAR
    assert found.legs == (
        ArbLeg("x", "BTC/USDT", Side.BUY, D("0.02"), D(50000), FEE),
        ArbLeg("x", "ETH/BTC", Side.BUY, D("0.3996"), D("0.05"), FEE),
        ArbLeg("x", "ETH/USDT", Side.SELL, D("0.3992004"), D(2560), FEE),
    )
    assert found.profit == D(2560) / D(2500) * D("0.999") ** 3 - 1  # 2.09%
    assert (found.currency, found.spent) == ("USDT", D(1000))
    assert best_triangular("x", "USDT", MARKETS, books, D(1000)) == found


def test_a_cheap_eth_usdt_ask_yields_the_other_direction() -> None:
    found = best_triangular(
        "x", "USDT", MARKETS, triangle_books([("2439", "100")], "2440"), D(1000)
    )
    assert found is not None
    assert [(leg.symbol, leg.side) for leg in found.legs] == [
        ("ETH/USDT", Side.BUY),
        ("ETH/BTC", Side.SELL),
        ("BTC/USDT", Side.SELL),
    ]
    assert found.profit == pytest.approx(D("0.0499") * D(49990) / D(2440) * D("0.999") ** 3 - 1)


def test_depth_of_a_selling_leg_can_kill_a_triangle() -> None:
    books = triangle_books([("2560", "0.1"), ("2400", "100")], "2561")
    path = ["USDT", "BTC", "ETH"]
    assert triangular_arbitrage("x", path, MARKETS, books, D(200)) is not None  # 0.0798 ETH
    assert triangular_arbitrage("x", path, MARKETS, books, D(1000)) is None  # 0.3992 ETH


def test_depth_of_a_buying_leg_and_fees_can_kill_a_triangle() -> None:
    books = triangle_books([("2560", "100")], "2561")
    books["BTC/USDT"] = book("BTC/USDT", [("49990", "10")], [("50000", "0.005"), ("52000", "10")])
    path = ["USDT", "BTC", "ETH"]
    assert triangular_arbitrage("x", path, MARKETS, books, D(200)) is not None  # 0.004 BTC
    assert triangular_arbitrage("x", path, MARKETS, books, D(1000)) is None
    loss = triangular_arbitrage("x", path, MARKETS, books, D(1000), min_profit=D(-1))
    assert loss is not None
    bought = D("0.005") + D(750) / D(52000)  # 250 USDT at 50,000, the other 750 at 52,000
    assert loss.legs[0].amount == bought
    assert loss.legs[0].average_price == D(1000) / bought
    dear = {s: spot(s, D("0.008")) for s in MARKETS}  # 2.4% in fees eat the 2.4% gross
    assert (
        triangular_arbitrage("x", path, dear, triangle_books([("2560", "100")], "2561"), D(1000))
        is None
    )


def test_triangles_need_every_pair_and_every_book() -> None:
    markets = {
        **MARKETS,
        "SOL/USDT": spot("SOL/USDT"),  # no SOL/BTC nor SOL/ETH: no triangle
        "XRP/USDT": spot("XRP/USDT", active=False),
        "XRP/BTC": spot("XRP/BTC"),
        "LTC/USDT:USDT": Market("LTC/USDT:USDT", "LTC", "USDT", MarketKind.SWAP),
        "LTC/BTC": spot("LTC/BTC"),
    }
    assert triangles(markets, "USDT") == [("USDT", "BTC", "ETH"), ("USDT", "ETH", "BTC")]
    books = triangle_books([("2560", "100")], "2561")
    del books["ETH/BTC"]
    assert triangular_arbitrage("x", ["USDT", "BTC", "ETH"], MARKETS, books, D(1000)) is None
    with pytest.raises(ValueError, match="no active spot pair between SOL and BTC"):
        triangular_arbitrage("x", ["USDT", "SOL", "BTC"], markets, books, D(1000))
    with pytest.raises(ValueError, match="three distinct"):
        triangular_arbitrage("x", ["USDT", "BTC", "USDT"], markets, books, D(1000))


@given(
    btc=st.decimals("100", "100000", places=2),
    cross=st.decimals("0.001", "1", places=5),
    spread=st.decimals("0", "0.01", places=4),
    fee=st.decimals("0", "0.005", places=4),
    amount=st.decimals("1", "10000", places=2),
)
def test_no_triangle_around_consistent_prices(
    btc: Decimal, cross: Decimal, spread: Decimal, fee: Decimal, amount: Decimal
) -> None:
    def quoted(symbol: str, mid: Decimal) -> OrderBook:
        depth = "1e12"
        return book(symbol, [(str(mid * (1 - spread)), depth)], [(str(mid * (1 + spread)), depth)])

    books = {
        "BTC/USDT": quoted("BTC/USDT", btc),
        "ETH/BTC": quoted("ETH/BTC", cross),
        "ETH/USDT": quoted("ETH/USDT", btc * cross),
    }
    markets = {s: spot(s, fee) for s in books}
    assert best_triangular("x", "USDT", markets, books, amount, min_profit=D("1e-12")) is None
