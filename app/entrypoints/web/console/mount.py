"""`/console`: the console is a Litestar app of its own (`site`), mounted here and built on its
first request, so that Jinja and the pages cost the web process nothing at start: a restarted web
process refuses alerts until it answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, asgi

from app.entrypoints.web.connection import services_of

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import Receive, Scope, Send

CONSOLE_MOUNT = "/console"


def _site(request: Request[Any, Any, Any]) -> Litestar:
    state = request.app.state
    site: Litestar | None = state.get("console")
    if site is None:
        from app.entrypoints.web.console.site import build_site  # noqa: PLC0415 - see above

        site = build_site(services_of(request))
        state["console"] = site
    return site


@asgi(CONSOLE_MOUNT, is_mount=True, copy_scope=True)
async def console(scope: Scope, receive: Receive, send: Send) -> None:
    """The console's pages, assets and forms (each page checks the token itself)."""
    site = _site(Request(scope))
    # The site keeps its own per-request state. The path arrives without the mount's prefix,
    # and stays so: Litestar would cut a `root_path` out of the middle of a path too
    # ("/static/console.css"), so the pages add the prefix themselves (`access.full_path`).
    await site({**scope, "state": {}}, receive, send)  # type: ignore[arg-type]


CONSOLE_ROUTES = (console,)
