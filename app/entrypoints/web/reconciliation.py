"""`GET /reconciliation`: what the monitor's last reconciliation found, per venue and symbol (read
from the database the monitor writes; the web process never asks a venue for it)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Request, get
from litestar.params import FromQuery

from app.entrypoints.web.answers import READ_ACCESS, errors
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.guards import requires_read_access
from app.ports.reconciliation import KeyState, VenueRun


class ReconciliationView(msgspec.Struct):
    venues: list[VenueRun]  # each venue's last run (its error when it could not be read)
    symbols: list[KeyState]  # book against venue per venue and symbol, with the drift


@get(
    "/reconciliation",
    summary="The book against each venue: balances, positions and drift",
    guards=[requires_read_access],
    security=READ_ACCESS,
    responses=errors(401),
)
async def reconciliation(
    request: Request[Any, Any, Any], venue: FromQuery[str | None] = None
) -> ReconciliationView:
    store = services_of(request).reconciliation
    runs = await asyncio.to_thread(store.runs)
    states = await asyncio.to_thread(store.states, venue)
    return ReconciliationView([r for r in runs if venue in (None, r.venue)], states)


RECONCILIATION_ROUTES = [reconciliation]
