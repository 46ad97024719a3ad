"""The Litestar app: its routes, its start-up and shut-down, its OpenAPI document at /schema."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.exceptions import HTTPException

from app.bootstrap.logs import configure_logging
from app.bootstrap.web import Services, build_services
from app.config.settings import MAX_BODY_BYTES, load_settings
from app.entrypoints.web.accounts import ACCOUNT_ROUTES
from app.entrypoints.web.answers import http_error, unexpected
from app.entrypoints.web.connections import CONNECTION_ROUTES
from app.entrypoints.web.console.mount import CONSOLE_ROUTES
from app.entrypoints.web.docs import openapi_config, swagger_assets
from app.entrypoints.web.execution import EXECUTION_ROUTES
from app.entrypoints.web.lean import MsgspecLitestar, NoEventListeners
from app.entrypoints.web.ops import OPS_ROUTES
from app.entrypoints.web.performance import PERFORMANCE_ROUTES
from app.entrypoints.web.reconciliation import RECONCILIATION_ROUTES
from app.entrypoints.web.signals import SIGNAL_ROUTES
from app.entrypoints.web.webhook import WEBHOOK_ROUTES

log = logging.getLogger("signalgate.web")


def create_app(services: Services | None = None, *, run_forwarder: bool = True) -> Litestar:
    """The Litestar app. Without `services`, builds them from the environment.

    Args:
        services: the wired services (tests pass their own).
        run_forwarder: run the inbox forwarder as a thread of this process; `signalgate serve`
            runs it as a process of its own instead, off the web processes' GIL.
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
        # (No full collection first: it finds next to nothing to free here, and would hold the
        # requests that queued while the process started.) The collector was off while the
        # served app started (create_served_app).
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)
        gc.enable()
        try:
            yield
        finally:
            await svc.shutdown()

    return MsgspecLitestar(
        route_handlers=[
            *WEBHOOK_ROUTES,
            *SIGNAL_ROUTES,
            *OPS_ROUTES,
            *EXECUTION_ROUTES,
            *RECONCILIATION_ROUTES,
            *CONNECTION_ROUTES,
            *PERFORMANCE_ROUTES,
            *ACCOUNT_ROUTES,
            *CONSOLE_ROUTES,
            swagger_assets(),
        ],
        lifespan=[lifespan],
        event_emitter_backend=NoEventListeners,
        exception_handlers={HTTPException: http_error, Exception: unexpected},
        openapi_config=openapi_config(),
        request_max_body_size=MAX_BODY_BYTES,
        logging_config=None,  # Litestar leaves the root logger to app.bootstrap.logs
    )


def create_served_app() -> Litestar:
    """The app as `signalgate serve` runs it: the forwarder is a separate process. Logging is
    configured here because each of uvicorn's web processes ($WEB_CONCURRENCY > 1) is a fresh
    interpreter that calls this factory.

    The collector is off from here until the app's lifespan has started it (and frozen what the
    start made): building the app allocates what lives as long as the process, and collections
    of the whole imported heap while it grows tripled the time the app took to build."""
    gc.disable()
    settings = load_settings()
    configure_logging(settings)
    return create_app(build_services(settings), run_forwarder=False)
