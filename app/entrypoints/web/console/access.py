"""Who may open the console, as for /rq (`guards.door_access`): API_TOKEN once, through the login
form or `?token=`, then an HTTP-only cookie that stands for it; with no API_TOKEN, a local paper
service only. Every POST refuses requests sent by other sites (`guards.refuse_cross_site`), and
the cookie is SameSite=Strict: another site's form carries none."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from litestar import Request, Response, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from app.domain.auth import secret_matches
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.guards import (
    CONSOLE_DOOR,
    door_access,
    door_cookie,
    refuse_cross_site,
)

HOME = f"{CONSOLE_DOOR.mount}/signals"
_OPEN = frozenset({"/login", "/static"})  # the login form and the assets need no token


def _open_path(path: str) -> bool:
    return path in _OPEN or path.startswith("/static/")


def full_path(request: Request[Any, Any, Any]) -> str:
    """The path as the browser sent it (the mount took its prefix off)."""
    return CONSOLE_DOOR.mount + request.scope["path"]


def _without_token(request: Request[Any, Any, Any]) -> str:
    query = [(k, v) for k, v in parse_qsl(request.url.query) if k != "token"]
    return full_path(request) + ("?" + urlencode(query) if query else "")


def _login_redirect(request: Request[Any, Any, Any]) -> Response[Any]:
    target = f"{CONSOLE_DOOR.mount}/login?" + urlencode({"next": _without_token(request)})
    if request.headers.get("hx-request"):  # htmx's polling: the whole page goes to the login
        return Response(None, status_code=401, headers={"HX-Redirect": target})
    return Redirect(target, status_code=303)


async def admit(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """Run before every console route: let the request through (None) or answer it."""
    refuse_cross_site(request, CONSOLE_DOOR)
    if _open_path(request.scope["path"]):
        return None
    settings = services_of(request).settings
    try:
        token_in_query = door_access(request, settings, CONSOLE_DOOR)
    except NotAuthorizedException:
        if request.method != "GET" or "token" in request.query_params:
            raise
        return _login_redirect(request)
    if token_in_query:
        # the token leaves the address bar (and the history) at once; the cookie stands for it
        cookie = door_cookie(request, settings, CONSOLE_DOOR)
        return Redirect(_without_token(request), status_code=303, cookies=[cookie])
    return None


def _next(target: str | None) -> str:
    """Where to go after logging in: a console page only (no open redirect to another site)."""
    if target and target.startswith(CONSOLE_DOOR.mount + "/") and not target.startswith("//"):
        return target
    return HOME


@get("/login", sync_to_thread=False)
def login_form(next: FromQuery[str | None] = None) -> Template:  # noqa: A002
    return Template("login.html", context={"next": _next(next), "error": None})


@post("/login", status_code=303)
async def log_in(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await request.form()
    settings = services_of(request).settings
    target = _next(form.get("next"))
    if settings.api_token is None:
        door_access(request, settings, CONSOLE_DOOR)  # lets a local paper service through
        return Redirect(target, status_code=303)
    if not secret_matches(settings.api_token, [form.get("token")]):
        error = "the token is wrong: type the value of API_TOKEN."
        return Template("login.html", context={"next": target, "error": error}, status_code=401)
    return Redirect(target, status_code=303, cookies=[door_cookie(request, settings, CONSOLE_DOOR)])


@post("/logout", status_code=303)
async def log_out() -> Response[Any]:
    answer: Response[Any] = Redirect(f"{CONSOLE_DOOR.mount}/login", status_code=303)
    answer.delete_cookie(CONSOLE_DOOR.cookie, path=CONSOLE_DOOR.mount)
    return answer


ACCESS_ROUTES = (login_form, log_in, log_out)
