"""`MARKET_DATA_RECORD=db`: the feed's ticks in `market_ticks`, written off the monitor's event
loop, and read back in time order for `signalgate market-data export`."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import Engine, insert, select

from app.adapters.sql.db import as_utc, transaction
from app.adapters.sql.tables import MarketTickRow
from app.domain.market import Tick

market_ticks = MarketTickRow.__table__  # type: ignore[attr-defined]
_BATCH = 5_000


class SqlTickSink:
    """A `TickSink` whose writes run one after the other on a thread of their own."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="record-ticks")
        self._last: Future[None] | None = None

    def write(self, ticks: list[Tick]) -> None:
        self._last = self._thread.submit(self._insert, ticks)

    def _insert(self, ticks: list[Tick]) -> None:
        rows = [{"symbol": t.symbol, "at": t.at, "price": t.price, "volume": t.volume}
                for t in ticks]  # fmt: skip
        with transaction(self._engine) as conn:
            conn.execute(insert(market_ticks), rows)

    def close(self) -> None:
        """Wait for the writes handed over (the last one's error is raised)."""
        self._thread.shutdown(wait=True)
        if self._last is not None:
            self._last.result()


def recorded_ticks(
    engine: Engine,
    *,
    symbol: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[Tick]:
    """The recorded ticks in time order (the order they were written within one time)."""
    query = select(market_ticks.c.symbol, market_ticks.c.at, market_ticks.c.price,
                   market_ticks.c.volume)  # fmt: skip
    if symbol is not None:
        query = query.where(market_ticks.c.symbol == symbol)
    if since is not None:
        query = query.where(market_ticks.c.at >= since)
    if until is not None:
        query = query.where(market_ticks.c.at < until)
    with transaction(engine) as conn:
        result = conn.execution_options(yield_per=_BATCH).execute(
            query.order_by(market_ticks.c.at, market_ticks.c.id)
        )
        for name, at, price, volume in result:
            yield Tick(name, as_utc(at), price, volume=volume)
