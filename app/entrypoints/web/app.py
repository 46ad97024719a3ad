"""The HTTP edge (Litestar): decode, call one service, map the result to a status."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.config import OpenAPIConfig
from litestar.params import FromPath, QueryParameter
from litestar.response.base import ASGIResponse

from app.bootstrap.logs import configure_logging
from app.bootstrap.web import Services, build_services
from app.config.settings import MAX_BODY_BYTES, TRADINGVIEW_IPS, load_settings
from app.domain.auth import secret_matches, signature_matches
from app.domain.dialects import AlertError, InvalidAlert, parse_alert
from app.entrypoints.web.connection import header, sender, services_of
from app.entrypoints.web.execution import EXECUTION_ROUTES
from app.entrypoints.web.guards import requires_read_access
from app.entrypoints.web.ops import OPS_ROUTES
from app.ports.execution import OrderQuery
from app.ports.signals import SignalQuery, SignalView

log = logging.getLogger("signalgate.web")

_json = msgspec.json.Encoder()
_JSON = "application/json"

# submit() outcome -> HTTP status
_STATUS = {
    "queued": 202,
    "spooled": 202,
    "filtered": 200,
    "stale": 200,
    "duplicate": 200,
    "rate_limited": 429,
    "unavailable": 503,
}


def _answer(
    code: int,
    status: str,
    reason: str | None = None,
    signal_id: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ASGIResponse:
    """The webhook's answer, built straight as an ASGI response (it is on the hot path)."""
    body = _json.encode({"status": status, "signal_id": signal_id, "reason": reason, **extra})
    return ASGIResponse(body=body, status_code=code, media_type=_JSON, headers=headers)


def _error(code: int, status: str, reason: str) -> Response[bytes]:
    """The same body for the exception handlers, which must return a `Response`."""
    body = _json.encode({"status": status, "signal_id": None, "reason": reason})
    return Response(body, status_code=code, media_type=_JSON)


async def _webhook(request: Request[Any, Any, Any], strategy: str | None) -> ASGIResponse:
    services = services_of(request)
    settings = services.settings
    client = sender(request, settings)
    if settings.tradingview_ips_only and client not in TRADINGVIEW_IPS:
        return _answer(403, "forbidden", "this address is not one of TradingView's webhook senders")
    body = await request.body()
    try:
        alert = parse_alert(body, strategy=strategy)
    except InvalidAlert as exc:
        return _answer(422, "invalid", str(exc), field=exc.field)
    except AlertError as exc:
        return _answer(400, "unparseable", str(exc))
    if settings.webhook_secret is not None:
        signature = header(request, b"x-signature")
        if signature is not None:
            if not signature_matches(settings.webhook_secret, body, signature):
                return _answer(401, "unauthorized", "the X-Signature does not match the body")
        elif not secret_matches(
            settings.webhook_secret, (alert.secret, request.query_params.get("token"))
        ):
            reason = (
                "the secret is wrong"
                if alert.secret or "token" in request.query_params
                else "the alert carries no secret: add a secret field or ?token= to the URL"
            )
            return _answer(401, "unauthorized", reason)
    assert services.intake is not None, "services not started"
    result = await services.intake.submit(
        alert.signal,
        dialect=alert.dialect,
        payload=alert.sanitized,
        client=client,
        sender=f"webhook:{alert.signal.strategy or '-'}",
    )
    retry = result.retry_after_seconds
    return _answer(
        _STATUS[result.status],
        result.status,
        result.reason,
        result.signal_id,
        headers=None if retry is None else {"Retry-After": str(retry)},
    )


@post("/webhook", request_max_body_size=MAX_BODY_BYTES, summary="Receive an alert")
async def webhook(request: Request[Any, Any, Any]) -> ASGIResponse:
    """Receive an alert in any supported dialect (JSON or text)."""
    return await _webhook(request, None)


@post(
    "/webhook/{strategy:str}", request_max_body_size=MAX_BODY_BYTES, summary="Alert for a strategy"
)
async def webhook_for_strategy(
    request: Request[Any, Any, Any], strategy: FromPath[str]
) -> ASGIResponse:
    """Receive an alert for the named strategy (its per-strategy settings apply)."""
    return await _webhook(request, strategy[:100])


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


@get("/health", summary="The process is up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", summary="Redis and the database are reachable")
async def ready(request: Request[Any, Any, Any]) -> Response[bytes]:
    checks = await services_of(request).readiness()
    ok = all(v == "ok" for v in checks.values())
    return Response(
        _json.encode({"status": "ready" if ok else "not ready", "checks": checks}),
        status_code=200 if ok else 503,
        media_type=_JSON,
    )


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
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)
        try:
            yield
        finally:
            await svc.shutdown()

    return Litestar(
        route_handlers=[
            webhook,
            webhook_for_strategy,
            list_signals,
            get_signal,
            health,
            ready,
            *OPS_ROUTES,
            *EXECUTION_ROUTES,
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
    configure_logging(load_settings())
    return create_app(run_forwarder=False)
