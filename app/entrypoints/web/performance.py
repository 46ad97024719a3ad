"""`GET /performance`: each strategy's closed trades, win rate, average win and loss, P&L and
deepest drawdown, per account and currency, from the stored brackets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter

from app.domain.performance import Performance, performance
from app.entrypoints.web.answers import READ_ACCESS, errors
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.guards import requires_read_access
from app.entrypoints.web.signals import utc_time
from app.ports.performance import TradeQuery


def _time(name: str, what: str) -> Any:
    # read as text and parsed by `utc_time`: Litestar would take a number for a timestamp
    return QueryParameter(
        name=name,
        description=f"ISO 8601 time; trades closed {what} it (without a zone it is UTC)",
        schema_extra={"format": "date-time"},
    )


@dataclass
class TradeFilter:
    """The query parameters of `GET /performance`, which Litestar reads and checks."""

    strategy: FromQuery[str | None] = None
    account: FromQuery[str | None] = None
    since_text: Annotated[str | None, _time("since", "at or after")] = None
    until_text: Annotated[str | None, _time("until", "before")] = None

    def query(self) -> TradeQuery:
        since, until = self.since_text, self.until_text
        return TradeQuery(
            strategy=self.strategy,
            account=self.account,
            since=None if since is None else utc_time(since, "since"),
            until=None if until is None else utc_time(until, "until"),
        )


class PerformanceView(msgspec.Struct):
    strategies: list[Performance]  # one per strategy, account and currency


@get(
    "/performance",
    summary="Each strategy's closed trades, win rate, average win and loss, P&L, max drawdown",
    guards=[requires_read_access],
    dependencies={"filters": Provide(TradeFilter, sync_to_thread=False)},
    security=READ_ACCESS,
    responses=errors(400, 401),
)
async def strategy_performance(
    request: Request[Any, Any, Any], filters: NamedDependency[TradeFilter]
) -> PerformanceView:
    query = filters.query()
    trades = await asyncio.to_thread(services_of(request).history.closed_trades, query)
    return PerformanceView(performance(trades))


PERFORMANCE_ROUTES = [strategy_performance]
