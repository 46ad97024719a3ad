"""What the HTTP API answers, as the OpenAPI document describes it: the webhook's answers, the
one error body every 4xx/5xx carries, who may call what (the bearer scheme), and the exception
handlers that write that error body for Litestar's own errors (404, 405, 413, a bad query...)."""

from __future__ import annotations

import logging
from typing import Any, Literal

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme

from app.config.settings import MAX_BODY_BYTES

log = logging.getLogger("signalgate.web")

ErrorStatus = Literal[
    "bad_request",
    "unparseable",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "conflict",
    "too_large",
    "invalid",
    "rate_limited",
    "unavailable",
    "error",
]


class ErrorAnswer(msgspec.Struct):
    """Every 4xx/5xx body: what was wrong, in one sentence that says what to fix."""

    status: ErrorStatus
    signal_id: None
    reason: str
    field: str | None = None  # a 422: the alert's or the body's field at fault


class AlertQueued(msgspec.Struct):
    """202: kept (queued in Redis, or spooled to the database while Redis is away)."""

    status: Literal["queued", "spooled"]
    signal_id: str
    reason: None
    # only when the alert's strategy has subscribed accounts: one signal per account, the first
    # is signal_id
    signal_ids: list[str] = []
    accounts: list[str] = []


class AlertNotQueued(msgspec.Struct):
    """200: recorded, not queued: filtered (confidence), stale (fire time) or duplicate (its
    signal_id is the first copy's)."""

    status: Literal["filtered", "stale", "duplicate"]
    signal_id: str
    reason: str
    signal_ids: list[str] = []  # as for a 202: the signals of each subscribed account
    accounts: list[str] = []


CircuitState = Literal["closed", "half_open", "open", "unknown"]


class Readiness(msgspec.Struct):
    """`/ready`: 200 when every check is "ok", else 503 with the same body."""

    status: Literal["ready", "not ready"]
    checks: dict[str, str]  # redis, database: "ok", or what is wrong
    processes: dict[str, str]  # forwarder, monitor: their heartbeats; shown, not deciding
    venues: dict[str, CircuitState]  # shown, not deciding the status


class Health(msgspec.Struct):
    status: Literal["ok"]


_WHY = {
    400: "a query parameter is invalid",
    401: "no API token, or a wrong one: send Authorization: Bearer <API_TOKEN>",
    403: "not allowed: the admin API while API_TOKEN is unset",
    404: "no such resource",
    409: "the request conflicts with the resource as it is",
    413: "the body is larger than 64 KiB",
    422: "invalid: a field is wrong; field names it",
    503: "a dependency is unreachable now; try again",
}


def errors(*codes: int, **why: str) -> dict[int, ResponseSpec]:
    """The error answers of a route, documented with the one error shape.

    Args:
        codes: the statuses the route answers with an error.
        why: a route's own sentence for a status, keyed `e401`, `e404`...
    """
    return {
        code: ResponseSpec(
            data_container=ErrorAnswer,
            description=why.get(f"e{code}", _WHY.get(code, "error")),
            generate_examples=False,
        )
        for code in codes
    }


BEARER = "bearer"
READ_ACCESS: list[dict[str, list[str]]] = [{BEARER: []}]
COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            description="API_TOKEN. While it is unset the read API and /metrics answer only "
            "this machine, and the admin API answers 403.",
        ),
        "webhookToken": SecurityScheme(
            type="apiKey",
            name="token",
            security_scheme_in="query",
            description="WEBHOOK_SECRET in the URL (?token=), for senders that cannot put it in "
            "the alert; not needed while WEBHOOK_SECRET is unset",
        ),
    }
)
# the alert's own secret (a body field), X-Signature, or ?token=
WEBHOOK_ACCESS: list[dict[str, list[str]]] = [{"webhookToken": []}, {}]

_STATUS_NAMES: dict[int, ErrorStatus] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}
_json = msgspec.json.Encoder()


class InvalidField(HTTPException):
    """422: a body field is wrong; `field` names it."""

    status_code = 422

    def __init__(self, detail: str, field: str | None) -> None:
        super().__init__(detail=detail)
        self.field = field


def error_response(
    code: int,
    status: ErrorStatus,
    reason: str,
    headers: dict[str, str] | None = None,
    field: str | None = None,
) -> Response[bytes]:
    """An error body, for the exception handlers (which must return a `Response`)."""
    answer = {"status": status, "signal_id": None, "reason": reason}
    body = _json.encode(answer if field is None else answer | {"field": field})
    return Response(body, status_code=code, media_type="application/json", headers=headers)


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    """Litestar's and the routes' HTTP errors, in the one error shape; their headers (a 405's
    Allow) kept."""
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
    status = _STATUS_NAMES.get(code, "error")
    field = exc.field if isinstance(exc, InvalidField) else None
    return error_response(code, status, str(reason), dict(exc.headers or {}) or None, field)


def unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "error", "internal error; the server log has the details.")
