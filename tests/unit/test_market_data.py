from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.adapters.market_data import (
    MissingSymbol,
    ReplayError,
    ReplayFeed,
    SyntheticFeed,
    read_csv,
    read_parquet,
)
from app.domain.market import Candle, Tick
from app.domain.synthetic import SymbolSpec, SyntheticMarket
from app.ports.exchange import MarketData

pytestmark = pytest.mark.anyio

START = datetime(2024, 1, 1, tzinfo=UTC)

CANDLES = """timestamp,open,high,low,close,volume
2024-01-01T00:00:00Z,100.5,101,100,100.75,12.5
1704067260,100.75,102,100.5,101.25,3
1704067320000,101.25,101.5,99.75,100,0
2024-01-01 00:03:00,100,100.25,99.5,99.75,1.25
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    return path


async def collect(feed: MarketData) -> list[Tick]:
    return [tick async for tick in feed.ticks()]


def test_candles_parse_iso_and_epoch_times_as_decimals(tmp_path: Path) -> None:
    rows = read_csv(write(tmp_path, CANDLES), symbol="BTC/USDT")
    assert [row.at for row in rows] == [START + timedelta(minutes=i) for i in range(4)]
    first = rows[0]
    assert first == Candle(
        "BTC/USDT",
        START,
        Decimal("100.5"),
        Decimal(101),
        Decimal(100),
        Decimal("100.75"),
        Decimal("12.5"),
    )


def test_ticks_with_a_symbol_column(tmp_path: Path) -> None:
    text = "Timestamp,Symbol,Price\n1704067200,BTC/USDT,30000.1\n1704067201,ETH/USDT,2000\n"
    rows = read_csv(write(tmp_path, text))
    assert rows == [
        Tick("BTC/USDT", START, Decimal("30000.1")),
        Tick("ETH/USDT", START + timedelta(seconds=1), Decimal(2000)),
    ]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2024-01-01T00:05:00,100,101,99,abc,1", "line 6, column close: 'abc' is not a decimal"),
        ("yesterday,100,101,99,100,1", "line 6, column timestamp: 'yesterday' is neither"),
        ("2024-01-01T00:05:00,100,101,99,100,-1", "line 6, column volume: '-1' is not a finite"),
        ("2024-01-01T00:05:00,100,101,99,NaN,1", "line 6, column close: 'NaN' is not a finite"),
        ("2024-01-01T00:05:00,100,99,101,100,1", "line 6: low <= open, close <= high"),
        ("2023-12-31T00:00:00,100,101,99,100,1", "line 6: time 2023-12-31T00:00:00+00:00"),
    ],
)
def test_a_bad_row_is_refused_naming_its_line(tmp_path: Path, row: str, message: str) -> None:
    path = write(tmp_path, CANDLES + row + "\n")
    with pytest.raises(ReplayError, match="line") as caught:
        read_csv(path, symbol="BTC/USDT")
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="missing column\\(s\\) price in the header"):
        read_csv(write(tmp_path, "timestamp,volume\n1,2\n"))
    with pytest.raises(ReplayError, match="missing column\\(s\\) timestamp in the header"):
        read_csv(write(tmp_path, "symbol,open,high,low,close\nA/B,1,2,0.5,1.5\n"))


def test_a_file_without_a_symbol_column_needs_the_symbol_given(tmp_path: Path) -> None:
    with pytest.raises(MissingSymbol, match="has no symbol column"):
        read_csv(write(tmp_path, CANDLES))


async def test_unpaced_replay_yields_every_row_in_order(tmp_path: Path) -> None:
    feed = ReplayFeed.from_csv(write(tmp_path, CANDLES), symbol="BTC/USDT")
    assert feed.order_book("BTC/USDT") is None
    ticks = await collect(feed)
    assert [t.price for t in ticks] == [Decimal(p) for p in ("100.75", "101.25", "100", "99.75")]
    assert ticks[0].volume == Decimal("12.5")
    book = feed.order_book("BTC/USDT", depth=3)
    assert book is not None
    assert len(book.bids) == 3
    assert book.bids[0].price < Decimal("99.75") <= book.asks[0].price


async def test_paced_replay_sleeps_by_the_recorded_gaps_over_speed(tmp_path: Path) -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    feed = ReplayFeed.from_csv(
        write(tmp_path, CANDLES), symbol="X", speed=60.0, sleep=sleep, monotonic=lambda: now[0]
    )
    assert len(await collect(feed)) == 4
    assert slept == pytest.approx([1.0, 1.0, 1.0])


async def test_synthetic_feed_gives_the_generators_ticks() -> None:
    def market() -> SyntheticMarket:
        specs = [SymbolSpec("BTC/USDT", Decimal(30000)), SymbolSpec("ETH/USDT", Decimal(2000))]
        return SyntheticMarket(specs, seed=11, start=START)

    feed = SyntheticFeed(market(), count=2_500)
    ticks = await collect(feed)
    assert ticks == list(market().ticks(2_500))
    book = feed.order_book("ETH/USDT", depth=4)
    assert book is not None
    assert book.best_bid == ticks[-1].bid
    assert len(book.asks) == 4


async def test_paced_synthetic_feed_waits_for_each_interval() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    market = SyntheticMarket([SymbolSpec("A/B", Decimal(1))], seed=1, start=START)
    feed = SyntheticFeed(market, count=3, speed=2.0, sleep=sleep, monotonic=lambda: now[0])
    await collect(feed)
    assert slept == pytest.approx([0.5, 0.5])


def test_parquet_needs_pyarrow(tmp_path: Path) -> None:
    pyarrow = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    table = pyarrow.table({"timestamp": [1704067200], "symbol": ["A/B"], "price": ["1.5"]})
    parquet.write_table(table, tmp_path / "t.parquet")
    assert read_parquet(tmp_path / "t.parquet") == [Tick("A/B", START, Decimal("1.5"))]
