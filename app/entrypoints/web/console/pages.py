"""The console's read pages. Each reads what the read API reads, through the same services and
helpers (`signals.signal_lineage`, `execution.open_positions`...), and renders it for people."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from app.domain.signals import SignalStatus
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.console.access import HOME, full_path
from app.entrypoints.web.console.chart import cumulative_pnl, pnl_svg
from app.entrypoints.web.execution import open_positions
from app.entrypoints.web.signals import signal_lineage
from app.ports.errors import Unavailable
from app.ports.execution import OrderQuery
from app.ports.signals import SignalQuery

# the console's pages, in the navigation's order: (its path under /console, its name)
NAVIGATION = (
    ("signals", "Signals"),
    ("positions", "Positions"),
    ("orders", "Orders"),
    ("pnl", "P&L"),
    ("trading", "Kill switch"),
    ("accounts", "Accounts"),
    ("venues", "Venues"),
    ("connections", "Connections"),
    ("notifications", "Notifications"),
)
PAGE_SIZE = 50
POLL_SECONDS = 3  # the signals page's statuses refresh this often (htmx)
Text = Annotated[str | None, QueryParameter(max_length=80)]


async def page(request: Request[Any, Any, Any], template: str, **context: Any) -> Template:
    """A page with what every page shows: the navigation and the trading state."""
    execution = services_of(request).execution
    try:
        state: str | None = (await asyncio.to_thread(execution.trading_state)).value
    except Unavailable:
        state = None
    return Template(
        template, context={"trading_state": state, "path": full_path(request), **context}
    )


@get("/", sync_to_thread=False)
def index() -> Redirect:
    return Redirect(HOME, status_code=303)


def _signal_query(
    status: str | None, strategy: str | None, symbol: str | None, before: str | None
) -> SignalQuery:
    return SignalQuery(
        status=status or None,
        strategy=strategy or None,
        symbol=symbol or None,
        before=before or None,
        limit=PAGE_SIZE,
    )


@get("/signals")
async def signals(
    request: Request[Any, Any, Any],
    status: Text = None,
    strategy: Text = None,
    symbol: Text = None,
    before: Text = None,
) -> Template:
    """Signals, newest first, filtered. htmx polls the same address for the table's rows alone
    (`HX-Request`), so that statuses change on the page as the workers go."""
    query = _signal_query(status, strategy, symbol, before)
    found = await asyncio.to_thread(services_of(request).reader.find, query)
    here = full_path(request) + (f"?{request.url.query}" if request.url.query else "")
    rows = {"signals": found, "rows_url": here, "poll_seconds": POLL_SECONDS}
    if request.headers.get("hx-request"):
        return Template("signal_rows.html", context=rows, headers={"Vary": "HX-Request"})
    return await page(
        request,
        "signals.html",
        query=query,
        statuses=list(SignalStatus),
        next=found[-1].id if len(found) == PAGE_SIZE else None,
        **rows,
    )


@get("/signals/{signal_id:str}")
async def lineage(request: Request[Any, Any, Any], signal_id: FromPath[str]) -> Template:
    """One signal's story: its alert, each step with its sentence and figures, its orders."""
    found = await signal_lineage(services_of(request), signal_id)
    if found is None:
        raise NotFoundException(
            f"no signal with id {signal_id[:40]!r}: pick one from the signals page."
        )
    return await page(request, "lineage.html", signal=found)


@get("/positions")
async def positions(request: Request[Any, Any, Any]) -> Template:
    """Open positions marked at their venues, with their legs."""
    held = await open_positions(services_of(request))
    return await page(request, "positions.html", positions=held)


@get("/orders")
async def orders(
    request: Request[Any, Any, Any],
    venue: Text = None,
    symbol: Text = None,
    order_state: Annotated[str | None, QueryParameter(name="state", max_length=40)] = None,
    open_only: Annotated[bool, QueryParameter(name="open")] = False,
    before: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1)] = None,
) -> Template:
    query = OrderQuery(
        venue=venue or None,
        symbol=symbol or None,
        state=order_state or None,
        open_only=open_only,
        before=before,
        limit=PAGE_SIZE,
    )
    found = await asyncio.to_thread(services_of(request).execution.orders, query)
    return await page(
        request,
        "orders.html",
        orders=found,
        query=query,
        next=found[-1].id if len(found) == PAGE_SIZE else None,
    )


@get("/venues")
async def venues(request: Request[Any, Any, Any]) -> Template:
    """Each venue's mode, circuit and last reconciliation; the processes' heartbeats."""
    services = services_of(request)
    circuits = await services.venue_states()
    try:
        runs = {run.venue: run for run in await asyncio.to_thread(services.reconciliation.runs)}
    except Unavailable:
        runs = {}
    return await page(
        request,
        "venues.html",
        venues=services.settings.venues,
        circuits=circuits,
        runs=runs,
        processes=await services.processes(),
        checks=await services.readiness(),
    )


@get("/connections")
async def connections(request: Request[Any, Any, Any]) -> Template:
    found = await asyncio.to_thread(services_of(request).connections.list_all)
    return await page(request, "connections.html", connections=found)


@get("/pnl")
async def pnl(
    request: Request[Any, Any, Any], days: Annotated[int, QueryParameter(ge=1, le=3660)] = 30
) -> Template:
    """Realized P&L over the last `days`: the chart, and the brackets that closed."""
    end = datetime.now(UTC)
    start = end - timedelta(days=days)
    closed = await asyncio.to_thread(services_of(request).history.closed_brackets, start, end)
    series = cumulative_pnl(closed)
    return await page(
        request,
        "pnl.html",
        days=days,
        chart=pnl_svg(series, start, end) if series else None,
        totals={quote: points[-1].total for quote, points in series.items()},
        closed=sorted(closed, key=lambda b: b.closed_at or end, reverse=True)[:PAGE_SIZE],
    )


PAGE_ROUTES = (index, signals, lineage, positions, orders, venues, connections, pnl)
