"""Candle files as they come (samples in tests/data/candles, the same 30 candles in each):
ccxt's fetch_ohlcv rows with or without a header and as JSON, Binance's kline files (spot in
microseconds, USD-M futures with a header), and TradingView chart exports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.adapters.candle_columns import columns, header_names
from app.adapters.market_data import ReplayError, read_csv, read_json
from app.bootstrap.backtest import read_candles
from app.domain.market import Candle
from app.entrypoints.cli.main import main

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "candles"
FORMATS = sorted(path.name for path in SAMPLES.iterdir())
START = datetime(2026, 1, 1, tzinfo=UTC)
FIRST = Candle(
    "BTC/USDT",
    START,
    Decimal("65000"),
    Decimal("65254.25"),
    Decimal("64621.79"),
    Decimal("65254.25"),
    Decimal("1.00314"),
)


def test_there_is_a_sample_of_every_format() -> None:
    assert FORMATS == [
        "binance_klines_spot.csv",
        "binance_klines_um.csv",
        "ccxt_ohlcv.csv",
        "ccxt_ohlcv.json",
        "ccxt_ohlcv_header.csv",
        "tradingview_export.csv",
        "tradingview_export_iso.csv",
    ]


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_reads_as_the_same_candles(name: str) -> None:
    candles = read_candles(SAMPLES / name, "BTC/USDT")
    reference = read_candles(SAMPLES / "ccxt_ohlcv_header.csv", "BTC/USDT")
    assert candles[0] == FIRST
    assert [c.at for c in candles] == [START + timedelta(minutes=n) for n in range(30)]
    assert candles == reference


@pytest.mark.parametrize("name", FORMATS)
def test_the_backtest_replays_every_format_for_the_symbol_given(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["backtest", "--data", str(SAMPLES / name), "--symbol", "BINANCE:BTCUSDT",
                 "--strategy", "momentum", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "backtest: momentum on BTC/USDT, 30 candles" in capsys.readouterr().out


def test_the_backtest_asks_for_the_symbol_of_a_file_without_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = SAMPLES / "tradingview_export.csv"
    assert main(["backtest", "--data", str(data), "--strategy", "momentum"]) == 2
    err = capsys.readouterr().err
    assert f"{data} has no symbol column; name its symbol with --symbol, like --symbol" in err
    assert err.count(". ") == 0


def test_the_backtest_refuses_a_symbol_it_cannot_read(capsys: pytest.CaptureFixture[str]) -> None:
    data = SAMPLES / "ccxt_ohlcv.csv"
    assert main(["backtest", "--data", str(data), "--symbol", "  ", "--strategy", "momentum"]) == 2
    assert "--symbol   : The symbol is empty" in capsys.readouterr().err


def test_a_symbol_column_still_wins_and_is_matched_as_alerts_spell_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "two.csv"
    pairs = ("ETHUSDT", "X/Y")
    rows = [f"{1767225600 + 60 * n},{s},1,2,0.5,1.5,1" for n in range(3) for s in pairs]
    data.write_text("\n".join(["timestamp,symbol,open,high,low,close,volume", *rows]) + "\n")
    code = main(["backtest", "--data", str(data), "--symbol", "eth-usdt", "--strategy",
                 "momentum", "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "momentum on ETH/USDT, 3 candles" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("first", "names", "header"),
    [
        (["1704067200000", "1", "2", "0.5", "1.5", "3"], ["timestamp", "open", "high", "low",
                                                          "close", "volume"], False),
        (["2024-01-01T00:00:00Z", "1", "2", "0.5", "1.5"], ["timestamp", "open", "high", "low",
                                                            "close"], False),
        ([" Time ", "Open", "High", "Low", "Close", "Volume"], ["timestamp", "open", "high", "low",
                                                               "close", "volume"], True),
        (["", "date", "open", "high", "low", "close", "vol"], ["", "timestamp", "open", "high",
                                                               "low", "close", "volume"], True),
    ],
)  # fmt: skip
def test_columns_of_the_first_row(first: list[str], names: list[str], header: bool) -> None:
    assert columns(first) == (names, header)


def test_of_aliases_the_best_is_read_and_repeated_names_keep_their_first() -> None:
    names = header_names(["date", "time", "open_time", "Plot", "Plot", "close"])
    assert names == ["date", "time", "timestamp", "plot", "plot#4", "close"]


def test_an_unknown_headerless_layout_says_what_to_add(tmp_path: Path) -> None:
    data = tmp_path / "seven.csv"
    data.write_text("1704067200000,1,2,0.5,1.5,3,9\n")
    with pytest.raises(ReplayError) as caught:
        read_csv(data, symbol="BTC/USDT")
    message = str(caught.value)
    assert "rows of 7 values without names are neither ccxt's 6" in message
    assert message.endswith("add a header line such as timestamp,open,high,low,close,volume.")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"BTC/USDT": []}', "is not a list of candle rows as ccxt's fetch_ohlcv returns"),
        ("[[1704067200000, 1, 2]]", "rows of 3 values without names"),
        ("[[1704067200000, 1, 2, 0.5, 1.5, 3], [1704067260000, null, 2, 0.5, 1.5, 3]]",
         "line 2, column open: '' is not a decimal number"),
        ("[[1704067200000, 1, 2, 0.5, 1.5, 3], 7]", "line 2, column timestamp"),
        ("[[1, 2", "is not JSON"),
    ],
)  # fmt: skip
def test_a_bad_json_file_is_refused_saying_why(tmp_path: Path, text: str, says: str) -> None:
    data = tmp_path / "rows.json"
    data.write_text(text)
    with pytest.raises(ReplayError, match=r"rows\.json") as caught:
        read_json(data, symbol="BTC/USDT")
    assert says in str(caught.value)


@pytest.mark.parametrize(
    ("epoch", "at"),
    [
        ("1704067200", START.replace(year=2024)),
        ("1704067200000", START.replace(year=2024)),
        ("1704067200000000", START.replace(year=2024)),
        ("1704067200000000000", START.replace(year=2024)),
        ("1704067200.5", START.replace(year=2024) + timedelta(milliseconds=500)),
    ],
)
def test_epoch_times_in_s_ms_us_and_ns(tmp_path: Path, epoch: str, at: datetime) -> None:
    data = tmp_path / "one.csv"
    data.write_text(f"{epoch},1,2,0.5,1.5,3\n")
    assert [c.at for c in read_csv(data, symbol="A/B")] == [at]
