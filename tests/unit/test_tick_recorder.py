"""The recorder of the feed's ticks writes them in time order, a second behind the newest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.adapters.tick_recorder import CsvTickSink, TickRecorder
from app.domain.market import Tick

T0 = datetime(2026, 12, 6, 10, tzinfo=UTC)


class Kept:
    def __init__(self) -> None:
        self.written: list[list[Tick]] = []
        self.closed = False

    def write(self, ticks: list[Tick]) -> None:
        self.written.append(ticks)

    def close(self) -> None:
        self.closed = True


def tick(symbol: str, seconds: float) -> Tick:
    return Tick(symbol, T0 + timedelta(seconds=seconds), Decimal(100) + Decimal(seconds))


def test_ticks_of_several_symbols_are_written_sorted_and_the_newest_second_waits() -> None:
    kept, now = Kept(), [0.0]
    recorder = TickRecorder(kept, lag_seconds=1.0, monotonic=lambda: now[0])
    for t in (tick("ETH/USDT", 0.4), tick("BTC/USDT", 0.1), tick("BTC/USDT", 1.2)):
        recorder.record(t)
    assert kept.written == []  # nothing before a second has passed
    now[0] = 1.0
    recorder.record(tick("ETH/USDT", 1.5))
    # the ticks more than a second older than the newest (1.5 s) went, sorted
    assert [(t.symbol, t.at) for t in kept.written[0]] == [
        ("BTC/USDT", T0 + timedelta(seconds=0.1)), ("ETH/USDT", T0 + timedelta(seconds=0.4))
    ]  # fmt: skip
    recorder.close()
    assert [t.at for t in kept.written[1]] == [T0 + timedelta(seconds=s) for s in (1.2, 1.5)]
    assert kept.closed


def test_a_tick_older_than_one_written_is_left_out_and_counted() -> None:
    kept, now = Kept(), [0.0]
    recorder = TickRecorder(kept, lag_seconds=0.0, monotonic=lambda: now[0])
    recorder.record(tick("BTC/USDT", 5))
    recorder.flush(everything=True)
    recorder.record(tick("ETH/USDT", 3))  # polled late: older than what was written
    recorder.record(tick("ETH/USDT", 6))
    recorder.close()
    assert [[t.at.second for t in batch] for batch in kept.written] == [[5], [6]]
    assert recorder.late == 1


def test_a_file_that_cannot_be_written_is_named_without_the_setting(tmp_path: Path) -> None:
    # `market-data export --out` and MARKET_DATA_RECORD share the sink: the setting's name is
    # added by the recorder's builder, not said to someone who ran an export
    missing = tmp_path / "missing" / "ticks.csv"
    with pytest.raises(ValueError, match="cannot be written") as raised:
        CsvTickSink(missing)
    assert str(raised.value).startswith(str(missing))
