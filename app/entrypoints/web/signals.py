"""The read API of signals: `GET /signals` (filtered, newest first) and one signal's lineage."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import FromPath, FromQuery, QueryParameter

from app.domain.signals import SignalStatus
from app.entrypoints.web.answers import READ_ACCESS, errors
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.guards import requires_read_access
from app.ports.execution import OrderQuery
from app.ports.signals import SignalQuery, SignalView

if TYPE_CHECKING:
    from app.bootstrap.web import Services


@dataclass
class SignalFilter:
    """The query parameters of `GET /signals`, which Litestar reads and checks."""

    status: Annotated[
        str | None, QueryParameter(description="one of " + ", ".join(SignalStatus))
    ] = None
    strategy: FromQuery[str | None] = None
    account: FromQuery[str | None] = None
    symbol: FromQuery[str | None] = None
    # read as text and parsed here: Litestar would take a number (since=0.5) for a timestamp
    since_text: Annotated[
        str | None,
        QueryParameter(
            name="since",
            description="ISO 8601 time; without a zone it is UTC",
            schema_extra={"format": "date-time"},
        ),
    ] = None
    before: Annotated[str | None, QueryParameter(description="`next` of the previous page")] = None
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50

    def __post_init__(self) -> None:
        self._since = None if self.since_text is None else utc_time(self.since_text, "since")

    @property
    def since(self) -> datetime | None:
        return self._since


def utc_time(text: str, key: str) -> datetime:
    """The query parameter `key`'s ISO 8601 time (a time without a zone is UTC); numbers are
    not times."""
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValidationException(
            extra=[{"key": key, "message": "must be an ISO time such as 2024-05-01T12:00:00Z"}]
        ) from None


class SignalPage(msgspec.Struct):
    signals: list[SignalView]
    next: str | None


@get(
    "/signals",
    summary="List signals, newest first",
    guards=[requires_read_access],
    dependencies={"filters": Provide(SignalFilter, sync_to_thread=False)},
    security=READ_ACCESS,
    responses=errors(400, 401),
)
async def list_signals(
    request: Request[Any, Any, Any], filters: NamedDependency[SignalFilter]
) -> SignalPage:
    query = msgspec.convert(filters, SignalQuery, from_attributes=True)
    found = await asyncio.to_thread(services_of(request).reader.find, query)
    return SignalPage(found, found[-1].id if len(found) == query.limit else None)


@get(
    "/signals/{signal_id:str}",
    summary="One signal with its history",
    guards=[requires_read_access],
    security=READ_ACCESS,
    responses=errors(401, 404, e404="no signal with that id"),
)
async def get_signal(request: Request[Any, Any, Any], signal_id: FromPath[str]) -> SignalView:
    found = await signal_lineage(services_of(request), signal_id)
    if found is None:
        raise HTTPException(
            status_code=404,
            detail=f"no signal with id {signal_id[:40]!r}; use the signal_id the webhook answered.",
        )
    return found


async def signal_lineage(services: Services, signal_id: str) -> SignalView | None:
    """One signal with its history and its bracket's orders, oldest first (None: no such id)."""
    found = await services.lookup.get(signal_id)
    if found is None:
        return None
    orders = await asyncio.to_thread(
        services.execution.orders, OrderQuery(signal_id=signal_id, limit=500)
    )
    return msgspec.structs.replace(found, orders=orders[::-1])


SIGNAL_ROUTES = (list_signals, get_signal)
