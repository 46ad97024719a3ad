"""`POST /webhook`: decode an alert in any dialect, check its secret, hand it to intake.

The hot path of the service: the answer is built straight as an ASGI response and headers are read
from the scope, without Litestar's header map.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response.base import ASGIResponse

from app.config.settings import MAX_BODY_BYTES, TRADINGVIEW_IPS
from app.domain.auth import secret_matches, signature_matches
from app.domain.dialects import AlertError, InvalidAlert, parse_alert
from app.entrypoints.web.answers import WEBHOOK_ACCESS, AlertNotQueued, AlertQueued, errors
from app.entrypoints.web.bodies import WebhookOperation
from app.entrypoints.web.connection import header, sender, services_of

_json = msgspec.json.Encoder()
_JSON = "application/json"

# submit() outcome -> HTTP status
_STATUS = {
    "queued": 202,
    "spooled": 202,
    "filtered": 200,
    "stale": 200,
    "duplicate": 200,
    "invalid": 422,
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
    # an alert its strategy's subscriptions fanned out: a signal per account, listed
    fanned: dict[str, object] = {"signal_ids": result.signal_ids} if result.signal_ids else {}
    if result.accounts:
        fanned["accounts"] = result.accounts
    if result.field is not None:
        fanned["field"] = result.field
    return _answer(
        _STATUS[result.status],
        result.status,
        result.reason,
        result.signal_id,
        headers=None if retry is None else {"Retry-After": str(retry)},
        **fanned,
    )


# What the webhook answers, as the README's table says (documentation only: the handler builds
# its answers itself, off Litestar's response path)
_ANSWERS = {
    202: ResponseSpec(AlertQueued, description="kept; an RQ job follows", generate_examples=False),
    200: ResponseSpec(
        AlertNotQueued,
        description="recorded, not queued: filtered, stale or duplicate",
        generate_examples=False,
    ),
    **errors(
        400,
        401,
        403,
        413,
        422,
        429,
        503,
        e400="unparseable: not any supported dialect",
        e401="unauthorized: the secret is missing or wrong, or the X-Signature does not match",
        e403="forbidden: TRADINGVIEW_IPS_ONLY is set and the sender is not TradingView",
        e422="invalid: a field is wrong; field names it",
        e429="rate_limited: over RATE_LIMIT_PER_MINUTE for this strategy",
        e503="unavailable: neither Redis nor the database could keep the alert; send it again",
    ),
}


@post(
    "/webhook",
    summary="Receive an alert",
    request_max_body_size=MAX_BODY_BYTES,
    status_code=202,
    responses=_ANSWERS,
    operation_class=WebhookOperation,
    security=WEBHOOK_ACCESS,
)
async def webhook(request: Request[Any, Any, Any]) -> ASGIResponse:
    """Receive an alert in any supported dialect (JSON or text)."""
    return await _webhook(request, None)


@post(
    "/webhook/{strategy:str}",
    summary="Alert for a strategy",
    request_max_body_size=MAX_BODY_BYTES,
    status_code=202,
    responses={**_ANSWERS, **errors(404, e404="no such route: a strategy name holds no slash")},
    operation_class=WebhookOperation,
    security=WEBHOOK_ACCESS,
)
async def webhook_for_strategy(
    request: Request[Any, Any, Any],
    strategy: Annotated[
        str,
        Parameter(
            description="the strategy whose settings apply (it wins over one in the alert)",
            schema_extra={"pattern": r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$"},
        ),
    ],
) -> ASGIResponse:
    """Receive an alert for the named strategy (its per-strategy settings apply)."""
    return await _webhook(request, strategy[:100])


WEBHOOK_ROUTES = (webhook, webhook_for_strategy)
