"""The read API of signals: `GET /signals` (filtered, newest first) and one signal's lineage."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, QueryParameter

from app.domain.signals import SignalStatus
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.guards import requires_read_access
from app.ports.execution import OrderQuery
from app.ports.signals import SignalQuery, SignalView


@dataclass
class SignalFilter:
    """The query parameters of `GET /signals`, which Litestar reads and checks."""

    status: Annotated[
        str | None, QueryParameter(description="one of " + ", ".join(SignalStatus))
    ] = None
    strategy: FromQuery[str | None] = None
    symbol: FromQuery[str | None] = None
    since: FromQuery[datetime | None] = None
    before: Annotated[str | None, QueryParameter(description="`next` of the previous page")] = None
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50

    def __post_init__(self) -> None:
        if self.since is not None:  # a time without a zone is UTC
            zoned = self.since if self.since.tzinfo else self.since.replace(tzinfo=UTC)
            self.since = zoned.astimezone(UTC)


class SignalPage(msgspec.Struct):
    signals: list[SignalView]
    next: str | None


@get(
    "/signals",
    summary="List signals, newest first",
    guards=[requires_read_access],
    dependencies={"filters": Provide(SignalFilter, sync_to_thread=False)},
)
async def list_signals(
    request: Request[Any, Any, Any], filters: NamedDependency[SignalFilter]
) -> SignalPage:
    query = msgspec.convert(filters, SignalQuery, from_attributes=True)
    found = await asyncio.to_thread(services_of(request).reader.find, query)
    return SignalPage(found, found[-1].id if len(found) == query.limit else None)


@get(
    "/signals/{signal_id:str}", summary="One signal with its history", guards=[requires_read_access]
)
async def get_signal(request: Request[Any, Any, Any], signal_id: FromPath[str]) -> SignalView:
    services = services_of(request)
    found = await services.lookup.get(signal_id)
    if found is None:
        raise HTTPException(
            status_code=404,
            detail=f"no signal with id {signal_id[:40]!r}; use the signal_id the webhook answered.",
        )
    orders = await asyncio.to_thread(
        services.execution.orders, OrderQuery(signal_id=signal_id, limit=500)
    )
    return msgspec.structs.replace(found, orders=orders[::-1])


SIGNAL_ROUTES = (list_signals, get_signal)
