"""`signalgate market-data export`: the ticks kept under `MARKET_DATA_RECORD=db`, written to a
CSV file that `signalgate backtest --data` reads."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from app.adapters.sql.market_ticks import recorded_ticks
from app.adapters.tick_recorder import CsvTickSink
from app.bootstrap.database import process_engine
from app.config.settings import Settings

_CHUNK = 5_000


def export_ticks(
    settings: Settings,
    out: Path,
    *,
    symbol: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write the recorded ticks to `out` (appended, a header first when it is new); how many.

    Raises:
        ValueError: `out` cannot be written, in one sentence.
    """
    engine = process_engine(settings)
    sink = CsvTickSink(out)
    written = 0
    try:
        chunk = []
        for tick in recorded_ticks(engine, symbol=symbol, since=since, until=until):
            chunk.append(tick)
            if len(chunk) == _CHUNK:
                sink.write(chunk)
                written, chunk = written + len(chunk), []
        sink.write(chunk)
        return written + len(chunk)
    finally:
        sink.close()
        engine.dispose()
