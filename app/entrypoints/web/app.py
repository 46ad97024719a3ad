"""The Litestar app: its routes, its start-up and shut-down, one error body for every 4xx/5xx."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.config import OpenAPIConfig

from app.bootstrap.logs import configure_logging
from app.bootstrap.web import Services, build_services
from app.config.settings import MAX_BODY_BYTES, load_settings
from app.entrypoints.web.execution import EXECUTION_ROUTES
from app.entrypoints.web.ops import OPS_ROUTES
from app.entrypoints.web.reconciliation import RECONCILIATION_ROUTES
from app.entrypoints.web.signals import SIGNAL_ROUTES
from app.entrypoints.web.webhook import WEBHOOK_ROUTES

log = logging.getLogger("signalgate.web")

_json = msgspec.json.Encoder()


def _error(code: int, status: str, reason: str) -> Response[bytes]:
    """The webhook's answer body, for the exception handlers (which must return a `Response`)."""
    body = _json.encode({"status": status, "signal_id": None, "reason": reason})
    return Response(body, status_code=code, media_type="application/json")


_HTTP_STATUS_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "rate_limited",
}


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    code = exc.status_code
    reason = exc.detail
    if code == 413:
        reason = f"the body is larger than {MAX_BODY_BYTES // 1024} KiB; send a shorter alert."
    elif code == 404 and reason == "Not Found":
        reason = f"there is no {request.url.path[:80]!r}; the API is listed at /schema."
    elif code == 405:
        reason = f"{request.url.path[:80]!r} does not take {request.method}; see /schema."
    elif isinstance(exc, ValidationException):
        reason = "a query parameter is invalid: " + "; ".join(
            f"{e.get('key')}: {e.get('message')}" for e in (exc.extra or []) if isinstance(e, dict)
        )
    return _error(code, _HTTP_STATUS_NAMES.get(code, "error"), str(reason))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error(500, "error", "internal error; the server log has the details.")


def create_app(services: Services | None = None, *, run_forwarder: bool = True) -> Litestar:
    """The Litestar app. Without `services`, builds them from the environment.

    Args:
        services: the wired services (tests pass their own).
        run_forwarder: run the inbox forwarder as a thread of this process (tests); served,
            it is a process of its own (`signalgate forward`), off the web processes' GIL.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        svc = services or build_services(load_settings())
        if svc.settings.webhook_secret is None:
            log.warning(
                "WEBHOOK_SECRET is not set: anyone who can reach /webhook can queue signals; "
                "set it before exposing this service"
            )
        app.state.services = svc
        await svc.startup(run_forwarder=run_forwarder)
        # Long-lived objects out of the collector's way: fewer, shorter pauses on the hot path.
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)
        try:
            yield
        finally:
            await svc.shutdown()

    return Litestar(
        route_handlers=[
            *WEBHOOK_ROUTES,
            *SIGNAL_ROUTES,
            *OPS_ROUTES,
            *EXECUTION_ROUTES,
            *RECONCILIATION_ROUTES,
        ],
        lifespan=[lifespan],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        openapi_config=OpenAPIConfig(title="signalgate", version="0.1.0", path="/schema"),
        request_max_body_size=MAX_BODY_BYTES,
        logging_config=None,  # Litestar leaves the root logger to app.bootstrap.logs
    )


def create_served_app() -> Litestar:
    """The app as `signalgate serve` runs it: the forwarder is a separate process. Logging is
    configured here because each of uvicorn's web processes ($WEB_CONCURRENCY > 1) is a fresh
    interpreter that calls this factory."""
    settings = load_settings()
    configure_logging(settings)
    return create_app(build_services(settings), run_forwarder=False)
