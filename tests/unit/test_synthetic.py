import itertools
import math
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.adapters.market_data import SyntheticFeed
from app.bootstrap.venues import LIVE_CACHE_LIMIT, build_market_data
from app.config.settings import Settings
from app.domain.synthetic import BookShape, SymbolSpec, SyntheticMarket, book_around

START = datetime(2024, 1, 1, tzinfo=UTC)


def btc(**overrides: object) -> SymbolSpec:
    fields: dict[str, object] = {"symbol": "BTC/USDT", "start_price": Decimal("30000")}
    fields.update(overrides)
    return SymbolSpec(**fields)  # type: ignore[arg-type]


def two_symbols(seed: int) -> SyntheticMarket:
    specs = [btc(), SymbolSpec("ETH/USDT", Decimal("2000"), volatility=0.002)]
    return SyntheticMarket(specs, seed=seed, start=START)


def test_same_seed_gives_the_same_ticks_and_books() -> None:
    first, second = two_symbols(7), two_symbols(7)
    assert list(first.ticks(2_000)) == list(second.ticks(2_000))
    assert first.order_book("ETH/USDT") == second.order_book("ETH/USDT")
    assert first.order_book("ETH/USDT") == first.order_book("ETH/USDT")  # asking twice: same


def _ticks_and_books(market: SyntheticMarket, count: int) -> list[object]:
    """`count` ticks, each followed by its symbol's book."""
    return [(tick, market.order_book(tick.symbol)) for tick in market.ticks(count)]


def test_the_decimal_caches_stay_within_their_limit_and_change_nothing() -> None:
    specs = [btc(), SymbolSpec("ETH/USDT", Decimal("2000"), volatility=0.002)]
    bounded = SyntheticMarket(specs, seed=7, start=START, cache_limit=100)

    seen = _ticks_and_books(bounded, 1_000)

    assert bounded.cached <= 2 * 2 * 100  # prices and amounts of each symbol
    assert seen == _ticks_and_books(two_symbols(7), 1_000)


def test_the_live_feed_keeps_few_decimals_however_long_it_runs() -> None:
    feed = build_market_data(Settings(), now=START)  # paced, as the monitor runs it
    assert isinstance(feed, SyntheticFeed)

    _ticks_and_books(feed.market, 4_000)  # about 40 new amounts a book: 160,000 Decimals

    symbols = len(feed.market.symbols)
    assert feed.market.cached <= 2 * symbols * LIVE_CACHE_LIMIT


def test_a_book_is_built_once_per_tick_and_depth() -> None:
    market = two_symbols(7)
    list(market.ticks(4))
    book = market.order_book("BTC/USDT", 20)
    assert market.order_book("BTC/USDT", 20) is book  # the same tick: the same book
    assert market.order_book("BTC/USDT", 5) is market.order_book("BTC/USDT", 5)
    list(market.ticks(2))  # one tick each
    moved = market.order_book("BTC/USDT", 20)
    assert moved is not book
    assert moved is not None
    assert book is not None
    assert moved.at > book.at


def test_another_seed_gives_another_path() -> None:
    assert list(two_symbols(1).ticks(100)) != list(two_symbols(2).ticks(100))


def test_resuming_continues_the_same_sequence() -> None:
    whole = list(two_symbols(3).ticks(101))
    market = two_symbols(3)
    parts = list(market.ticks(33)) + list(market.ticks(68))  # stops mid-round
    assert parts == whole


def test_adding_a_symbol_leaves_the_others_paths_alone() -> None:
    alone = SyntheticMarket([btc()], seed=5, start=START)
    together = two_symbols(5)
    btc_alone = [t.price for t in alone.ticks(50)]
    btc_together = [t.price for t in together.ticks(100) if t.symbol == "BTC/USDT"]
    assert btc_alone == btc_together


def test_ticks_start_at_the_start_price_and_step_by_the_interval() -> None:
    market = SyntheticMarket([btc(interval=timedelta(seconds=5))], seed=1, start=START)
    ticks = list(market.ticks(3))
    assert ticks[0].price == Decimal("30000.00")
    assert [t.at for t in ticks] == [START + timedelta(seconds=5 * i) for i in range(3)]


def test_symbols_with_different_intervals_merge_in_time_order() -> None:
    specs = [btc(interval=timedelta(seconds=3)), SymbolSpec("ETH/USDT", Decimal(2000))]
    ticks = list(SyntheticMarket(specs, seed=1, start=START).ticks(40))
    assert [t.at for t in ticks] == sorted(t.at for t in ticks)
    assert sum(t.symbol == "ETH/USDT" for t in ticks) == 30


def test_drift_and_volatility_of_log_returns_are_as_configured() -> None:
    drift, volatility = 0.0002, 0.004
    market = SyntheticMarket(
        [btc(drift=drift, volatility=volatility, price_step=Decimal("0.0001"))],
        seed=42,
        start=START,
    )
    prices = [float(t.price) for t in market.ticks(50_001)]
    returns = [math.log(b / a) for a, b in itertools.pairwise(prices)]
    # Standard error of the mean: 0.004 / sqrt(50_000) ~ 1.8e-5; bounds are ~5 of them.
    assert statistics.fmean(returns) == pytest.approx(drift, abs=1e-4)
    assert statistics.stdev(returns) == pytest.approx(volatility, rel=0.03)


def test_emitted_prices_are_quantized_and_bid_below_ask() -> None:
    step = Decimal("0.5")
    market = SyntheticMarket([btc(price_step=step, volatility=0.01)], seed=9, start=START)
    for tick in market.ticks(1_000):
        assert tick.bid is not None
        assert tick.ask is not None
        for price in (tick.price, tick.bid, tick.ask):
            assert price % step == 0
        assert tick.bid <= tick.price < tick.ask


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_books_are_consistent(seed: int) -> None:
    shape = BookShape(depth=20, spread_bps=10, level_step=2, level_amount=Decimal("0.5"))
    market = SyntheticMarket([btc()], seed=seed, start=START, book=shape)
    assert market.order_book("BTC/USDT") is None
    tick = list(market.ticks(500))[-1]
    book = market.order_book("BTC/USDT")
    assert book is not None
    assert book.at == tick.at
    assert len(book.bids) == len(book.asks) == 20
    bids, asks = [lv.price for lv in book.bids], [lv.price for lv in book.asks]
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)
    assert len(set(bids)) == 20
    assert len(set(asks)) == 20
    assert bids[0] < asks[0]
    assert (book.best_bid, book.best_ask) == (tick.bid, tick.ask)
    assert asks[1] - asks[0] == Decimal("0.02")
    for level in (*book.bids, *book.asks):
        assert level.price % Decimal("0.01") == 0
        assert level.amount > 0
        assert level.amount % Decimal("0.00000001") == 0
    assert len(market.order_book("BTC/USDT", depth=5).asks) == 5  # type: ignore[union-attr]


def test_book_around_rounds_the_price_and_stops_bids_above_zero() -> None:
    book = book_around("X/USDT", Decimal("0.034"), price_step=Decimal("0.01"))
    assert book.asks[0].price > book.bids[0].price > 0
    assert all(level.price > 0 for level in book.bids)
    assert len(book.bids) < 20 == len(book.asks)


@pytest.mark.parametrize(
    "spec",
    [
        SymbolSpec("A", Decimal(1), volatility=-0.1),
        SymbolSpec("A", Decimal(1), drift=math.nan),
        SymbolSpec("A", Decimal(1), interval=timedelta(0)),
        SymbolSpec("A", Decimal(1), price_step=Decimal(0)),
    ],
)
def test_bad_specs_are_refused(spec: SymbolSpec) -> None:
    with pytest.raises(ValueError):
        SyntheticMarket([spec], seed=1, start=START)
