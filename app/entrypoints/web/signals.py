"""The read API of signals: `GET /signals` (filtered, newest first) and one signal's lineage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.exceptions import HTTPException
from litestar.params import FromPath, QueryParameter

from app.entrypoints.web.connection import services_of
from app.entrypoints.web.guards import requires_read_access
from app.ports.execution import OrderQuery
from app.ports.signals import SignalQuery, SignalView


class SignalPage(msgspec.Struct):
    signals: list[SignalView]
    next: str | None


@get("/signals", summary="List signals, newest first", guards=[requires_read_access])
async def list_signals(
    request: Request[Any, Any, Any],
    status: Annotated[str | None, QueryParameter()] = None,
    strategy: Annotated[str | None, QueryParameter()] = None,
    symbol: Annotated[str | None, QueryParameter()] = None,
    since: Annotated[datetime | None, QueryParameter()] = None,
    before: Annotated[str | None, QueryParameter(description="`next` of the previous page")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
) -> SignalPage:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    query = SignalQuery(
        status=status,
        strategy=strategy,
        symbol=symbol,
        since=since.astimezone(UTC) if since else None,
        before=before,
        limit=limit,
    )
    found = await asyncio.to_thread(services_of(request).reader.find, query)
    return SignalPage(found, found[-1].id if len(found) == limit else None)


@get(
    "/signals/{signal_id:str}", summary="One signal with its history", guards=[requires_read_access]
)
async def get_signal(request: Request[Any, Any, Any], signal_id: FromPath[str]) -> SignalView:
    services = services_of(request)
    found = await asyncio.to_thread(services.reader.get, signal_id)
    if found is None:
        raise HTTPException(
            status_code=404,
            detail=f"no signal with id {signal_id[:40]!r}; one accepted less than a second ago "
            "may still be on its way to the database, so ask again.",
        )
    orders = await asyncio.to_thread(
        services.execution.orders, OrderQuery(signal_id=signal_id, limit=500)
    )
    return msgspec.structs.replace(found, orders=orders[::-1])


SIGNAL_ROUTES = (list_signals, get_signal)
