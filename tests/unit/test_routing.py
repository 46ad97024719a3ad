from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from app.domain.market import Market, MarketKind
from app.domain.orders import Side
from app.domain.routing import Candidate, NoRoute, Route, VenueQuote, choose_route
from tests.paper_helpers import SYMBOL, book

D = Decimal


def market(**overrides: object) -> Market:
    fields: dict[str, object] = {
        "amount_step": D("0.001"),
        "min_amount": D("0.001"),
        "min_cost": D(10),
        "taker_fee": D("0.001"),
    }
    fields.update(overrides)
    return Market(SYMBOL, "BTC", "USDT", **fields)  # type: ignore[arg-type]


def quote(
    venue: str,
    *,
    mode: str = "paper",
    asks: str = "100x10",
    bids: str = "99.9x10",
    listed: bool = True,
    has_book: bool = True,
    healthy: bool = True,
    free_quote: str = "1000000",
    free_base: str = "100",
    markets_read: bool = True,
    leverage: str = "1",
    **market_fields: object,
) -> VenueQuote:
    return VenueQuote(
        venue,
        mode,
        market(**market_fields) if listed else None,
        book(bids=bids, asks=asks) if has_book else None,
        healthy,
        D(free_quote),
        D(free_base),
        markets_read,
        D(leverage),
    )


def route(
    quotes: list[VenueQuote], amount: str = "0.5", side: Side = Side.BUY, **options: object
) -> Route | NoRoute:
    return choose_route(SYMBOL, side, D(amount), quotes, **options)  # type: ignore[arg-type]


def reasons(result: Route | NoRoute) -> dict[str, str]:
    return {r.venue: r.reason for r in result.rejected}


# (case, quotes, side, amount, options, chosen venue or None, {rejected venue: words in reason})
TABLE: list[tuple[str, list[VenueQuote], Side, str, dict[str, object], str | None, dict[str, str]]]
TABLE = [
    (
        "the lower fee wins over the better book price",
        [quote("a", taker_fee=D("0.002")), quote("b", asks="100.1x10", taker_fee=D("0.0005"))],
        Side.BUY, "0.5", {}, "b", {},
    ),
    (
        "a venue priced lower by its offset wins at equal fees",
        [quote("a"), quote("b", asks="99.9x10")],
        Side.BUY, "0.5", {}, "b", {},
    ),
    (
        "a thin book is refused and says its depth",
        [quote("a", asks="99x0.2 99.1x0.1"), quote("b")],
        Side.BUY, "0.5", {}, "b",
        {"a": "the book holds only 0.3 BTC of asks over 2 levels, 0.5 BTC needed"},
    ),
    (
        "an average 202 bps from the best price is over the 50 bps budget",
        [quote("a", asks="99x0.1 101.5x1"), quote("b")],
        Side.BUY, "0.5", {}, "b",
        {"a": "moves the price 202.02 bps from 99, above the 50 bps slippage budget"},
    ),
    (
        "a wider slippage budget lets the deeper walk through",
        [quote("a", asks="99x0.1 101.5x1"), quote("b", asks="101.1x10")],
        Side.BUY, "0.5", {"slippage_bps": D(250)}, "a", {},
    ),
    (
        "an impact exactly at the budget passes",
        [quote("a", asks="100x0.25 101x1"), quote("b", asks="100.6x10")],
        Side.BUY, "0.5", {}, "a", {},
    ),
    (
        "an impact just over the budget is refused",
        [quote("a", asks="100x0.25 101x1"), quote("b", asks="100.6x10")],
        Side.BUY, "0.5", {"slippage_bps": D("49.99")}, "b",
        {"a": "moves the price 50.00 bps from 100, above the 49.99 bps slippage budget"},
    ),
    (
        "a size that truncates to 0 at the venue's step",
        [
            quote("a", amount_step=D("0.01"), min_amount=D(0), min_cost=D(0)),
            quote("b", min_cost=D(0)),
        ],
        Side.BUY, "0.005", {}, "b", {"a": "0.005 BTC rounds to 0 at the step of 0.01"},
    ),
    (
        "a size below the minimum amount after rounding",
        [quote("a", min_amount=D("0.01"), min_cost=D(0)), quote("b", min_cost=D(0))],
        Side.BUY, "0.0059", {}, "b", {"a": "0.005 BTC is below the minimum amount of 0.01 BTC"},
    ),
    (
        "a size below the minimum cost",
        [quote("a"), quote("b", min_cost=D(1))],
        Side.BUY, "0.05", {}, "b", {"a": "the cost 5 USDT is below the minimum of 10"},
    ),
    (
        "a buy needs the cost with fees in free quote",
        [quote("a", free_quote="50.04"), quote("b", asks="100.2x10", free_quote="50.2")],
        Side.BUY, "0.5", {}, "b", {"a": "50.05 USDT is needed with fees, 50.04 free"},
    ),
    (
        "a buy exactly covered by the free quote passes",
        [quote("a", free_quote="50.05")],
        Side.BUY, "0.5", {}, "a", {},
    ),
    (
        "a spot sell needs the coins",
        [quote("a", free_base="0.4"), quote("b", bids="99x10")],
        Side.SELL, "0.5", {}, "b", {"a": "0.5 BTC is needed, 0.4 free"},
    ),
    (
        "a spot sell that reduces a position does not need free coins",
        [quote("a", free_base="0"), quote("b", bids="99x10")],
        Side.SELL, "0.5", {"reduces": True}, "a", {},
    ),
    (
        "a swap sell needs margin for its notional",
        [quote("a", kind=MarketKind.SWAP, settle="USDT", free_quote="49", free_base="0")],
        Side.SELL, "0.5", {}, None,
        {"a": "49.99995 USDT of margin at 1x is needed with fees, 49 free"},
    ),
    (
        "a swap entry's margin is its notional over its leverage, with the fee on the notional",
        [quote("a", kind=MarketKind.SWAP, settle="USDT", free_quote="10", leverage="5"),
         quote("b", kind=MarketKind.SWAP, settle="USDT", free_quote="10.04", leverage="5")],
        Side.SELL, "0.5", {}, "b",
        {"a": "10.03995 USDT of margin at 5x is needed with fees, 10 free"},
    ),
    (
        "a swap order that reduces needs no margin",
        [quote("a", kind=MarketKind.SWAP, settle="USDT", free_quote="0")],
        Side.BUY, "0.5", {"reduces": True}, "a", {},
    ),
    (
        "an unhealthy venue is refused",
        [quote("a", asks="90x10", healthy=False), quote("b")],
        Side.BUY, "0.5", {}, "b", {"a": "the venue is unhealthy (circuit open)"},
    ),
    (
        "a venue that does not list the symbol is refused",
        [quote("a", listed=False), quote("b")],
        Side.BUY, "0.5", {}, "b", {"a": "BTC/USDT is not listed"},
    ),
    (
        "an inactive market is refused",
        [quote("a", active=False), quote("b")],
        Side.BUY, "0.5", {}, "b", {"a": "BTC/USDT is inactive"},
    ),
    (
        "a venue without a book is refused",
        [quote("a", has_book=False), quote("b")],
        Side.BUY, "0.5", {}, "b", {"a": "there is no order book for BTC/USDT"},
    ),
    (
        "a hint keeps only the venue the alert asked for, even a worse one",
        [quote("a"), quote("b", asks="101x10")],
        Side.BUY, "0.5", {"venue_hint": "b"}, "b", {"a": "the alert asked for venue b"},
    ),
    (
        "a hint naming an unknown venue routes nowhere",
        [quote("a")],
        Side.BUY, "0.5", {"venue_hint": "zz"}, None,
        {"zz": "which is not configured", "a": "the alert asked for venue zz"},
    ),
    (
        "a down live venue never lets the order fall back to a healthy paper venue",
        [quote("live1", mode="live", healthy=False), quote("paper", asks="90x10")],
        Side.BUY, "0.5", {}, None,
        {
            "live1": "the venue is unhealthy (circuit open)",
            "paper": "an order never falls back from live to paper",
        },
    ),
    (
        "a live venue without a book keeps the route live",
        [quote("live1", mode="live", has_book=False), quote("t", mode="testnet")],
        Side.BUY, "0.5", {}, None, {"t": "never falls back from live to testnet"},
    ),
    (
        "testnet outranks paper",
        [quote("paper", asks="90x10"), quote("t", mode="testnet")],
        Side.BUY, "0.5", {}, "t", {"paper": "never falls back from testnet to paper"},
    ),
    (
        "a live venue that does not list the symbol does not set the mode",
        [quote("live1", mode="live", listed=False), quote("paper")],
        Side.BUY, "0.5", {}, "paper", {"live1": "BTC/USDT is not listed"},
    ),
    (
        "a live venue whose markets could not be read keeps the route live",
        [quote("live1", mode="live", listed=False, markets_read=False), quote("paper")],
        Side.BUY, "0.5", {}, None,
        {
            "live1": "its markets could not be read, so whether it lists BTC/USDT is unknown",
            "paper": "a live venue lists or may list BTC/USDT; an order never falls back from"
            " live to paper",
        },
    ),
    (
        "a hint to a paper venue does not step down from a live venue listing the symbol",
        [quote("live1", mode="live"), quote("paper")],
        Side.BUY, "0.5", {"venue_hint": "paper"}, None,
        {"live1": "the alert asked for venue paper", "paper": "never falls back from live to"},
    ),
    (
        "a sell goes to the highest bid net of fees",
        [
            quote("a", bids="100x10", taker_fee=D("0.002")),
            quote("b", bids="99.95x10", taker_fee=D("0.0005")),
            quote("c", bids="99.8x10"),
        ],
        Side.SELL, "0.5", {}, "b", {},
    ),
    (
        "an unknown mode is refused",
        [quote("a", mode="demo"), quote("b")],
        Side.BUY, "0.5", {}, "b", {"a": "its mode 'demo' is none of paper, testnet or live"},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("quotes", "side", "amount", "options", "chosen", "refusals"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_route_table(
    quotes: list[VenueQuote],
    side: Side,
    amount: str,
    options: dict[str, object],
    chosen: str | None,
    refusals: dict[str, str],
) -> None:
    result = route(quotes, amount, side, **options)
    if chosen is None:
        assert isinstance(result, NoRoute)
    else:
        assert isinstance(result, Route)
        assert result.chosen.venue == chosen
    got = reasons(result)
    for venue, words in refusals.items():
        assert words in got[venue]
    considered = {q.venue for q in quotes} | set(refusals)
    accepted = set() if isinstance(result, NoRoute) else {result.chosen.venue}
    if isinstance(result, Route):
        accepted |= {c.venue for c in result.alternatives}
    assert accepted | set(got) == considered
    assert not accepted & set(got)


def test_candidate_prices_are_the_vwap_net_of_fee_and_its_impact() -> None:
    result = route(
        [quote("a", asks="100x0.2 101x1", taker_fee=D("0.001"))], "0.5", slippage_bps=D(60)
    )
    assert isinstance(result, Route)
    assert result.chosen == Candidate(
        "a",
        "paper",
        D("0.500"),
        average_price=D("100.6"),
        effective_price=D("100.7006"),
        impact_bps=D(60),
        fee_rate=D("0.001"),
    )


def test_sell_impact_is_measured_below_the_best_bid() -> None:
    result = route(
        [quote("a", bids="100x0.25 98x1", taker_fee=D(0))], "0.5", Side.SELL, slippage_bps=D(100)
    )
    assert isinstance(result, Route)
    assert result.chosen.average_price == D(99)
    assert result.chosen.effective_price == D(99)
    assert result.chosen.impact_bps == D(100)


def test_each_venue_truncates_the_size_to_its_own_step() -> None:
    result = route([quote("a", amount_step=D("0.01")), quote("b", asks="100.5x10")], "0.509")
    assert isinstance(result, Route)
    assert (result.chosen.venue, result.chosen.amount) == ("a", D("0.50"))
    assert [(c.venue, c.amount) for c in result.alternatives] == [("b", D("0.509"))]


def test_alternatives_are_the_other_acceptable_venues_best_first() -> None:
    quotes = [
        quote("d", asks="100.3x10"),
        quote("a", asks="100.2x10"),
        quote("c", asks="100x10"),
        quote("b", asks="100.1x10", healthy=False),
    ]
    result = route(quotes)
    assert isinstance(result, Route)
    assert result.chosen.venue == "c"
    assert [c.venue for c in result.alternatives] == ["a", "d"]
    assert [r.venue for r in result.rejected] == ["b"]


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_ties_go_to_the_first_venue_by_name_whatever_the_order(side: Side) -> None:
    quotes = [quote("b"), quote("c"), quote("a")]
    for ordering in (quotes, quotes[::-1]):
        result = route(ordering, side=side)
        assert isinstance(result, Route)
        assert result.chosen.venue == "a"
        assert [c.venue for c in result.alternatives] == ["b", "c"]


def test_no_route_reason_is_one_sentence_naming_each_venue() -> None:
    result = route([quote("a", healthy=False), quote("b", listed=False)])
    assert isinstance(result, NoRoute)
    assert result.reason == (
        "no venue can buy 0.5 BTC/USDT: a: the venue is unhealthy (circuit open); "
        "b: BTC/USDT is not listed"
    )
    assert route([]).reason == "no venue can buy 0.5 BTC/USDT: no venue is configured"  # type: ignore[union-attr]


def test_swap_quotes_the_settle_asset() -> None:
    swap = quote("a", kind=MarketKind.SWAP, settle="USDC", free_quote="1")
    result = route([swap])
    assert isinstance(result, NoRoute)
    assert reasons(result)["a"] == "50.05 USDC of margin at 1x is needed with fees, 1 free"


@pytest.mark.parametrize("amount", ["0", "-1", "NaN", "Infinity"])
def test_a_size_that_is_not_a_positive_number_is_a_programming_error(amount: str) -> None:
    with pytest.raises(ValueError, match="must be a positive number"):
        route([quote("a")], amount)


def test_routes_survive_a_json_round_trip_as_a_tagged_union() -> None:
    for result in (
        route([quote("a"), quote("b", healthy=False)]),
        route([quote("a", listed=False)]),
    ):
        encoded = msgspec.json.encode(result)
        assert msgspec.json.decode(encoded, type=Route | NoRoute) == result


def test_books_are_walked_from_their_best_level() -> None:
    # Levels deeper than needed must not change the average.
    shallow = route([quote("a", asks="100x1")])
    deep = route([quote("a", asks="100x1 200x5 300x5")])
    assert isinstance(shallow, Route)
    assert isinstance(deep, Route)
    assert shallow.chosen == deep.chosen
