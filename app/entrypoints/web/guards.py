"""Who may use the routes other than the webhook (which checks its alert's secret itself).

- Reads (`/signals`, `/orders`, `/positions`, `/admin/state`, `/metrics`): the bearer token, or,
  while API_TOKEN is unset, this machine only, the sender seen through TRUSTED_PROXIES (a local
  proxy does not make everyone local).
- Admin (`/admin/halt`, `/admin/reduce-only`, `/admin/resume`): the bearer token, always: a kill
  switch anyone on the network could flip is not one.
- The queue dashboard (`/rq`) and the console (`/console`), each a `Door`: the bearer token, the
  door's cookie, or `?token=` once (answered with a redirect that sets the cookie; the console
  also has a login form); with no API_TOKEN, a local paper service only.

Reads and admin are Litestar guards; the dashboard's rule runs inside its ASGI mount, which must
answer the redirect.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from litestar.datastructures import Cookie
from litestar.exceptions import (
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
)

from app.config.venues import TradingMode
from app.domain.auth import is_loopback, secret_matches
from app.entrypoints.web.connection import header, sender, services_of

if TYPE_CHECKING:
    from litestar import Request
    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler

    from app.config.settings import Settings

COOKIE = "signalgate_rq"
_COOKIE_SECONDS = 12 * 3600
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SEND_BEARER = "send Authorization: Bearer <API_TOKEN>."


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    scheme, _, value = (header(connection, b"authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _token_or_this_machine(connection: ASGIConnection[Any, Any, Any, Any], surface: str) -> None:
    settings = services_of(connection).settings
    token = settings.api_token
    if token is None:
        if not is_loopback(sender(connection, settings)):
            raise NotAuthorizedException(
                f"API_TOKEN is not set, so {surface} answers only on this machine: set API_TOKEN."
            )
        return
    if not secret_matches(token, [_bearer(connection)]):
        raise NotAuthorizedException(_SEND_BEARER)


def requires_read_access(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard of the read API."""
    _token_or_this_machine(connection, "the read API")


def requires_metrics_access(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard of /metrics: the read API's rule."""
    _token_or_this_machine(connection, "/metrics")


def requires_admin_token(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guard of the admin API."""
    token = services_of(connection).settings.api_token
    if token is None:
        raise PermissionDeniedException(
            "the admin API needs API_TOKEN: set it, or use `signalgate halt` on the server."
        )
    if not secret_matches(token, [_bearer(connection)]):
        raise NotAuthorizedException(_SEND_BEARER)


class Door(NamedTuple):
    """A browser surface behind the token: its cookie, and what it says when it refuses."""

    mount: str  # the path the cookie is sent to
    cookie: str
    label: bytes  # what the cookie's value is derived with: one door's cookie opens no other
    name: str  # for the sentences: "the queue dashboard", "the console"
    samesite: Literal["lax", "strict"]


RQ_DOOR = Door("/rq", COOKIE, b"signalgate rq-dashboard", "the queue dashboard", "lax")
# strict: a link from another site opens the login page, and no other site's form carries it
CONSOLE_DOOR = Door(
    "/console", "signalgate_console", b"signalgate console", "the console", "strict"
)


def cookie_value(token: str, door: Door = RQ_DOOR) -> str:
    """What a door's cookie carries: derived from the token, so the token is never stored."""
    return hmac.new(token.encode(), door.label, hashlib.sha256).hexdigest()


def has_cookie(connection: ASGIConnection[Any, Any, Any, Any], token: str, door: Door) -> bool:
    cookie = connection.cookies.get(door.cookie)
    return cookie is not None and hmac.compare_digest(
        cookie.encode("utf-8", "replace"), cookie_value(token, door).encode()
    )


def door_access(
    connection: ASGIConnection[Any, Any, Any, Any], settings: Settings, door: Door = RQ_DOOR
) -> bool:
    """Let the request through or raise; True when the token came as `?token=` (set the cookie).

    With no API_TOKEN, a local paper service only."""
    token = settings.api_token
    if token is None:
        if settings.trading_mode is TradingMode.PAPER and is_loopback(sender(connection, settings)):
            return False
        raise NotFoundException(
            f"{door.name} is off while API_TOKEN is not set: set API_TOKEN, "
            f"then open {door.mount}/?token=<API_TOKEN>."
        )
    if secret_matches(token, [_bearer(connection)]) or has_cookie(connection, token, door):
        return False
    if "token" in connection.query_params:
        if secret_matches(token, [connection.query_params.get("token")]):
            return True
        raise NotAuthorizedException("the token is wrong: use the value of API_TOKEN.")
    raise NotAuthorizedException(
        f"send Authorization: Bearer <API_TOKEN>, or open {door.mount}/?token=<API_TOKEN> once"
        " in a browser."
    )


def door_cookie(request: Request[Any, Any, Any], settings: Settings, door: Door) -> Cookie:
    """The cookie that stands for the token at `door`: HTTP-only, secure over HTTPS (seen through
    TRUSTED_PROXIES too), for 12 hours."""
    secure = request.url.scheme == "https" or (
        bool(settings.trusted_proxies) and request.headers.get("x-forwarded-proto") == "https"
    )
    return Cookie(
        key=door.cookie,
        value=cookie_value(settings.api_token or "", door),
        path=door.mount,
        max_age=_COOKIE_SECONDS,
        httponly=True,
        samesite=door.samesite,
        secure=secure,
    )


def dashboard_access(connection: ASGIConnection[Any, Any, Any, Any], settings: Settings) -> bool:
    """The queue dashboard's door (`door_access`)."""
    return door_access(connection, settings, RQ_DOOR)


def refuse_cross_site(request: Request[Any, Any, Any], door: Door = RQ_DOOR) -> None:
    """A door's buttons POST (the dashboard's delete, requeue, empty; the console's kill switch);
    a cookie or an open loopback must not let another site's page press them."""
    if request.method in _SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    host = request.headers.get("host", "")
    if fetch_site in {"cross-site", "same-site"} or (
        origin is not None and origin.split("://", 1)[-1] != host
    ):
        raise PermissionDeniedException(f"{door.name} refuses changes sent by other sites.")
