"""What the ccxt adapter reads from ccxt's answers (no network: ccxt's unified dicts)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from app.adapters.ccxt.parsing import order_book, order_status, utc
from app.domain.market import Level


def test_a_book_level_without_a_readable_price_or_amount_is_left_out() -> None:
    raw = {
        "bids": [[100.5, 2.0], [None, 1.0], [99.0, None], ["bad", 1]],
        "asks": [[101.0, 0.5, 7]],  # a third column (an order count) is ignored
        "timestamp": 1_700_000_000_000,
    }

    book = order_book("BTC/USDT", raw, depth=10)

    # a level at price 0 would be a bid nobody made: the best bid must stay 100.5
    assert book.bids == (Level(Decimal("100.5"), Decimal("2.0")),)
    assert book.asks == (Level(Decimal("101.0"), Decimal("0.5")),)
    assert book.at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_a_book_keeps_at_most_depth_levels_and_reads_a_missing_side_as_empty() -> None:
    book = order_book("BTC/USDT", {"bids": [[3, 1], [2, 1], [1, 1]], "asks": None}, depth=2)

    assert [level.price for level in book.bids] == [Decimal(3), Decimal(2)]
    assert book.asks == ()
    assert book.at is None


def test_a_timestamp_is_milliseconds_and_a_bool_is_not_one() -> None:
    assert utc(0) == datetime(1970, 1, 1, tzinfo=UTC)
    assert utc(True) is None
    assert utc("1700000000000") is None


@pytest.mark.parametrize(
    ("shown", "trigger"),
    [
        ({"triggerPrice": 57000.0}, Decimal("57000")),
        ({"stopLossPrice": 57000.0, "triggerPrice": None}, Decimal("57000")),  # BingX STOP_MARKET
        ({"takeProfitPrice": 63000.5}, Decimal("63000.5")),  # BingX TAKE_PROFIT_MARKET
        ({}, None),
    ],
)
def test_an_orders_trigger_is_read_where_ccxt_shows_it(
    shown: dict[str, object], trigger: Decimal | None
) -> None:
    raw = {"id": "1", "symbol": "BTC/USDT:USDT", "side": "sell", "status": "open", **shown}

    assert order_status(raw, "").trigger_price == trigger
