"""Operations surfaces of the web process: rq-dashboard under /rq and Prometheus at /metrics.

Both sit behind the read API's token. The dashboard is a Flask app (rq-dashboard 0.9) mounted
through a WSGI bridge; /metrics renders a `MetricsSnapshot` taken at scrape time from the shared
stores, so every web process answers the same figures.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode

from a2wsgi import WSGIMiddleware
from litestar import Request, Response, asgi, get
from litestar.datastructures import Cookie
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)
from litestar.response.base import ASGIResponse
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from app.config.settings import Settings
from app.config.venues import TradingMode
from app.domain.auth import client_address, is_loopback, secret_matches
from app.ports.errors import Unavailable
from app.ports.metrics import MetricsSnapshot, MetricsSource

if TYPE_CHECKING:
    from flask import Flask
    from litestar.types import Receive, Scope, Send

    from app.bootstrap.web import Services

RQ_MOUNT = "/rq"
COOKIE = "signalgate_rq"
_COOKIE_SECONDS = 12 * 3600
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LATENCY_QUANTILES = (0.5, 0.9, 0.99)
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


def _services(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state.services
    return services


def _sender(request: Request[Any, Any, Any], settings: Settings) -> str | None:
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for") if settings.trusted_proxies else None
    return client_address(peer, forwarded, settings.trusted_proxies)


def _bearer(request: Request[Any, Any, Any]) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _cookie_value(token: str) -> str:
    """What the cookie carries: derived from the token, so the token itself is never stored."""
    return hmac.new(token.encode(), b"signalgate rq-dashboard", hashlib.sha256).hexdigest()


def _authorize_metrics(request: Request[Any, Any, Any]) -> None:
    """The read API's rules: the bearer token, or this machine only while API_TOKEN is unset."""
    settings = _services(request).settings
    token = settings.api_token
    if token is None:
        if not is_loopback(_sender(request, settings)):
            raise NotAuthorizedException(
                "API_TOKEN is not set, so /metrics answers only on this machine: set API_TOKEN."
            )
        return
    if not secret_matches(token, [_bearer(request)]):
        raise NotAuthorizedException("send Authorization: Bearer <API_TOKEN>.")


def _authorize_dashboard(request: Request[Any, Any, Any], settings: Settings) -> bool:
    """Let the request through or raise; True when the token came as `?token=` (set the cookie)."""
    token = settings.api_token
    if token is None:
        if settings.trading_mode is TradingMode.PAPER and is_loopback(_sender(request, settings)):
            return False
        raise NotFoundException(
            "the queue dashboard is off while API_TOKEN is not set: set API_TOKEN, "
            "then open /rq/?token=<API_TOKEN>."
        )
    if secret_matches(token, [_bearer(request)]):
        return False
    cookie = request.cookies.get(COOKIE)
    if cookie is not None and hmac.compare_digest(
        cookie.encode("utf-8", "replace"), _cookie_value(token).encode()
    ):
        return False
    if "token" in request.query_params:
        if secret_matches(token, [request.query_params.get("token")]):
            return True
        raise NotAuthorizedException("the token is wrong: use the value of API_TOKEN.")
    raise NotAuthorizedException(
        "send Authorization: Bearer <API_TOKEN>, or open /rq/?token=<API_TOKEN> once in a browser."
    )


def _refuse_cross_site(request: Request[Any, Any, Any]) -> None:
    """The dashboard's buttons POST (delete, requeue, empty); a cookie or an open loopback must
    not let another site's page press them."""
    if request.method in _SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    host = request.headers.get("host", "")
    if fetch_site in {"cross-site", "same-site"} or (
        origin is not None and origin.split("://", 1)[-1] != host
    ):
        raise PermissionDeniedException("the queue dashboard refuses changes sent by other sites.")


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
    services = _services(request)
    settings = services.settings
    if _authorize_dashboard(request, settings):
        # the token leaves the address bar (and the history) at once; the cookie stands for it
        secure = request.url.scheme == "https" or (
            bool(settings.trusted_proxies) and request.headers.get("x-forwarded-proto") == "https"
        )
        cookie = Cookie(
            key=COOKIE,
            value=_cookie_value(settings.api_token or ""),
            path=RQ_MOUNT,
            max_age=_COOKIE_SECONDS,
            httponly=True,
            samesite="lax",
            secure=secure,
        )
        redirect = ASGIResponse(
            status_code=303, headers={"Location": _without_token(scope)}, cookies=[cookie]
        )
        await redirect(scope, receive, send)
        return
    _refuse_cross_site(request)
    bridge = _dashboard_asgi(request, services.redis_url)
    await bridge({**scope, "root_path": RQ_MOUNT, "path": _original_path(scope)}, receive, send)  # type: ignore[arg-type]


class SnapshotCollector:
    """A prometheus_client collector that renders one `MetricsSnapshot` per scrape."""

    def __init__(self, source: MetricsSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        snapshot = self._source.collect()
        yield _gauge(
            "signalgate_signals_total",
            "Signals in the database, by their current status.",
            "status",
            snapshot.signals_by_status,
        )
        yield _gauge(
            "signalgate_queue_depth", "Jobs waiting on the RQ queue.", "queue", snapshot.queue_depth
        )
        yield _gauge(
            "signalgate_jobs",
            "RQ jobs in the queue's registries: started, failed, deferred, scheduled.",
            "state",
            snapshot.jobs_by_state,
        )
        yield _summary(
            "signalgate_job_latency_seconds",
            "Enqueued to finished, over the most recently finished RQ jobs"
            " (a window, not a total).",
            snapshot.job_latencies_seconds,
        )
        yield from _execution_metrics(snapshot)
        for key, values in sorted(snapshot.extra.items()):
            name, _, label = key.partition(":")
            yield _gauge(f"signalgate_{name}", f"signalgate {name}.", label or None, values)


def _gauge(name: str, doc: str, label: str | None, values: dict[str, Any]) -> GaugeMetricFamily:
    if label is None:
        return GaugeMetricFamily(name, doc, value=float(sum(values.values())))
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], float(value))
    return family


def quantile(ordered: list[float], q: float) -> float:
    """The nearest-rank quantile of an ascending list (NaN when it is empty)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _execution_metrics(snapshot: MetricsSnapshot) -> Iterator[Metric]:
    yield _gauge(
        "signalgate_orders", "Orders in the database, by state.", "state", snapshot.orders_by_state
    )
    yield _gauge(
        "signalgate_brackets",
        "Brackets in the database, by state.",
        "state",
        snapshot.brackets_by_state,
    )
    yield GaugeMetricFamily(
        "signalgate_brackets_unprotected",
        "Open brackets whose protective leg could not be placed: alert when above 0.",
        value=float(snapshot.brackets_unprotected),
    )
    decisions = GaugeMetricFamily(
        "signalgate_decisions",
        "Risk decisions of the last 24 hours: approvals, and denials once per failed check.",
        labels=["outcome", "reason"],
    )
    for outcome, reasons in sorted(snapshot.decisions.items()):
        for reason, count in sorted(reasons.items()):
            decisions.add_metric([outcome, reason], float(count))
    yield decisions
    yield _gauge(
        "signalgate_trading_state",
        "1 for the current trading state (the kill switch), 0 for the others.",
        "state",
        snapshot.trading_state,
    )
    yield _summary(
        "signalgate_execution_latency_seconds",
        "Signal received to its first order sent, over the most recently executed signals.",
        snapshot.execution_latencies_seconds,
    )


def _summary(name: str, doc: str, values: tuple[float, ...]) -> Metric:
    summary = Metric(name, doc, "summary")
    ordered = sorted(values)
    for q in LATENCY_QUANTILES:
        summary.add_sample(name, {"quantile": str(q)}, quantile(ordered, q))
    summary.add_sample(f"{name}_count", {}, float(len(ordered)))
    summary.add_sample(f"{name}_sum", {}, float(sum(ordered)))
    return summary


@get("/metrics", summary="Prometheus metrics", media_type=_PROMETHEUS_TEXT)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Signals, queue, RQ registries, orders, brackets, risk decisions, trading state and
    latencies, in Prometheus text."""
    _authorize_metrics(request)
    collector = SnapshotCollector(_services(request).metrics)
    try:
        body: bytes = await asyncio.to_thread(generate_latest, collector)
    except Unavailable as exc:
        raise HTTPException(
            status_code=503, detail=f"the metrics could not be read now ({exc}); scrape again."
        ) from exc
    return Response(body, media_type=_PROMETHEUS_TEXT)


OPS_ROUTES = (rq_dashboard, metrics)
