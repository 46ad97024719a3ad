"""Operations surfaces of the web process: /health, /ready, rq-dashboard under /rq and Prometheus
at /metrics.

The dashboard and /metrics sit behind the read API's token (`guards`). The dashboard is a Flask app
(rq-dashboard 0.9) mounted through a WSGI bridge; /metrics renders a `MetricsSnapshot` taken at
scrape time from the shared stores, so every web process answers the same figures
(`app.entrypoints.web.prometheus`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, unquote, urlencode

from a2wsgi import WSGIMiddleware
from litestar import Request, Response, asgi, get
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.response.base import ASGIResponse

from app.entrypoints.web.answers import READ_ACCESS, CircuitState, Health, Readiness, errors
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.guards import (
    RQ_DOOR,
    dashboard_access,
    door_cookie,
    refuse_cross_site,
    requires_metrics_access,
)
from app.ports.errors import Unavailable

if TYPE_CHECKING:
    from flask import Flask
    from litestar.types import Receive, Scope, Send

RQ_MOUNT = "/rq"
# Prometheus' text format 0.0.4, which every Prometheus reads (Litestar adds the charset)
_PROMETHEUS_TEXT = "text/plain; version=0.0.4"


def dashboard_app(redis_url: str) -> Flask:
    """rq-dashboard as a Flask app on `redis_url`, serving from its root.

    Mounted under a prefix, the prefix comes from the WSGI `SCRIPT_NAME`, so its links follow.
    """
    from flask import Flask  # noqa: PLC0415 - Flask is loaded only when the dashboard is used
    from rq.serializers import JSONSerializer  # noqa: PLC0415
    from rq_dashboard import blueprint  # noqa: PLC0415
    from rq_dashboard.web import config, setup_rq_connection  # noqa: PLC0415

    # rq-dashboard keeps its serializer in one process-wide setting; our jobs are all JSON
    config.serializer = JSONSerializer
    # named after the package, so that Flask finds its static folder (the favicon is app-level)
    app = Flask("rq_dashboard")
    app.config["RQ_DASHBOARD_REDIS_URL"] = (redis_url,)
    app.config["RQ_DASHBOARD_POLL_INTERVAL"] = 2500
    app.register_blueprint(blueprint)
    setup_rq_connection(app)
    return app


def _original_path(scope: Scope) -> str:
    """The path as sent: Litestar strips the mount prefix and appends a slash, Flask needs both
    right (its routes and static files), and gets the prefix back through `root_path`."""
    raw = _raw_path(scope)
    return unquote(raw) if raw else RQ_MOUNT + scope["path"]


def _raw_path(scope: Scope) -> str | None:
    raw = scope.get("raw_path")
    # some clients (Litestar's test client among them) leave the query string in raw_path
    return bytes(raw).decode("latin-1").partition("?")[0] if raw else None


def _without_token(scope: Scope) -> str:
    query = [(k, v) for k, v in parse_qsl(scope["query_string"].decode("latin-1")) if k != "token"]
    path = _raw_path(scope) or RQ_MOUNT + "/"
    return path + ("?" + urlencode(query) if query else "")


def _dashboard_asgi(request: Request[Any, Any, Any], redis_url: str) -> WSGIMiddleware:
    state = request.app.state
    bridge: WSGIMiddleware | None = state.get("rq_dashboard")
    if bridge is None:
        bridge = WSGIMiddleware(dashboard_app(redis_url), workers=4)  # type: ignore[arg-type]
        state["rq_dashboard"] = bridge
    return bridge


@asgi(RQ_MOUNT, is_mount=True, copy_scope=True)
async def rq_dashboard(scope: Scope, receive: Receive, send: Send) -> None:
    """rq-dashboard, for requests that carry the API token (header, `?token=` once, cookie)."""
    request: Request[Any, Any, Any] = Request(scope)
    services = services_of(request)
    settings = services.settings
    if dashboard_access(request, settings):
        # the token leaves the address bar (and the history) at once; the cookie stands for it
        cookie = door_cookie(request, settings, RQ_DOOR)
        redirect = ASGIResponse(
            status_code=303, headers={"Location": _without_token(scope)}, cookies=[cookie]
        )
        await redirect(scope, receive, send)
        return
    refuse_cross_site(request)
    bridge = _dashboard_asgi(request, services.redis_url)
    await bridge({**scope, "root_path": RQ_MOUNT, "path": _original_path(scope)}, receive, send)  # type: ignore[arg-type]


@get(
    "/metrics",
    summary="Prometheus metrics",
    media_type=_PROMETHEUS_TEXT,
    guards=[requires_metrics_access],
    security=READ_ACCESS,
    responses=errors(401, 503),
)
async def metrics(request: Request[Any, Any, Any]) -> Response[str]:
    """Signals, queue, RQ registries, orders, brackets, risk decisions, trading state and
    latencies, in Prometheus text."""
    # imported on the first scrape: prometheus_client is no part of the web process's start
    from app.entrypoints.web.prometheus import render  # noqa: PLC0415

    services = services_of(request)
    try:
        # on a thread: the first scrape may build the SQL store (app.bootstrap.lazy_sql)
        body = await asyncio.to_thread(lambda: render(services.metrics))
    except Unavailable as exc:
        raise HTTPException(
            status_code=503, detail=f"the metrics could not be read now ({exc}); scrape again."
        ) from exc
    return Response(body.decode(), media_type=_PROMETHEUS_TEXT)


@get("/health", summary="The process is up")
async def health() -> Health:
    return Health("ok")


@get(
    "/ready",
    summary="Redis and the database are reachable; the forwarder's and monitor's heartbeats",
    responses={503: ResponseSpec(Readiness, description="not ready: checks say which")},
)
async def ready(request: Request[Any, Any, Any]) -> Response[Readiness]:
    """`checks` (Redis, the database) decide the status. `processes` shows whether a forwarder
    and the monitor beat lately, and `venues` each venue's circuit state (closed, open,
    half_open, or unknown before a worker or the monitor used it); neither decides it: this
    process keeps taking alerts, which wait in the Redis inbox."""
    services = services_of(request)
    checks = await services.readiness()
    ok = all(v == "ok" for v in checks.values())
    processes = await services.processes()
    venues = cast("dict[str, CircuitState]", await services.venue_states())
    return Response(
        Readiness("ready" if ok else "not ready", checks, processes, venues),
        status_code=200 if ok else 503,
    )


OPS_ROUTES = (health, ready, rq_dashboard, metrics)
