"""`MARKET_DATA_RECORD`: every tick the feed produced, kept in the form `signalgate backtest
--data` reads, so that a strategy can be tested on the prices the service saw.

Ticks are written in time order (the backtest refuses a row earlier than the one above it): they
wait `lag_seconds` in a buffer, so that the ticks of several symbols polled at their own times
are sorted before they are written; one that comes later than that, older than a tick already
written, is left out and counted (logged once a minute at most).
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from app.domain.market import Tick

log = logging.getLogger("signalgate.market_data")

HEADER = ("timestamp", "symbol", "price", "volume")
FLUSH_SECONDS = 1.0
LATE_LOG_SECONDS = 60.0


class TickSink(Protocol):
    def write(self, ticks: list[Tick]) -> None:
        """Keep `ticks` (in time order); blocking I/O."""
        ...

    def close(self) -> None: ...


class TickRecorder:
    """Buffers the feed's ticks and hands them to a sink in time order, once a second."""

    def __init__(
        self,
        sink: TickSink,
        *,
        lag_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sink = sink
        self._lag = timedelta(seconds=lag_seconds)
        self._monotonic = monotonic
        self._buffer: list[Tick] = []
        self._last_written: datetime | None = None
        self._last_flush = monotonic()
        self.late = 0  # ticks left out: older than one already written
        self._late_logged = float("-inf")

    def record(self, tick: Tick) -> None:
        """Keep `tick`; write what is due when a second has passed since the last write."""
        self._buffer.append(tick)
        if self._monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self, *, everything: bool = False) -> None:
        """Write the buffered ticks older than the newest one less the lag (all of them with
        `everything`)."""
        self._last_flush = self._monotonic()
        if not self._buffer:
            return
        self._buffer.sort(key=lambda tick: tick.at)
        cut = len(self._buffer)
        if not everything:
            newest = self._buffer[-1].at
            cut = next((i for i, t in enumerate(self._buffer) if t.at > newest - self._lag), cut)
        due, self._buffer = self._buffer[:cut], self._buffer[cut:]
        kept = list(self._in_order(due))
        if kept:
            self._sink.write(kept)
            self._last_written = kept[-1].at

    def close(self) -> None:
        self.flush(everything=True)
        self._sink.close()

    def _in_order(self, ticks: Iterable[Tick]) -> Iterable[Tick]:
        for tick in ticks:
            if self._last_written is not None and tick.at < self._last_written:
                self._late_tick(tick)
                continue
            yield tick

    def _late_tick(self, tick: Tick) -> None:
        self.late += 1
        now = self._monotonic()
        if now - self._late_logged >= LATE_LOG_SECONDS:
            self._late_logged = now
            log.warning(
                "market data recording: a %s tick of %s came after later ticks were written and"
                " is left out (%d so far)", tick.symbol, tick.at.isoformat(), self.late,
            )  # fmt: skip


class CsvTickSink:
    """Appends to a CSV file (its header written when the file is new or empty)."""

    def __init__(self, path: Path) -> None:
        new = not path.exists() or path.stat().st_size == 0
        try:
            self._file = path.open("a", newline="", encoding="utf-8")
        except OSError as error:
            raise ValueError(
                f"{path} cannot be written ({error.strerror}): name a file in a folder this"
                " process may write to."
            ) from None
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(HEADER)

    def write(self, ticks: list[Tick]) -> None:
        self._writer.writerows(
            (t.at.isoformat(), t.symbol, format(t.price, "f"), format(t.volume, "f")) for t in ticks
        )
        self._file.flush()

    def close(self) -> None:
        self._file.close()
