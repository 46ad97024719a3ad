"""Litestar with msgspec alone, and OPTIONS answers that list every method of a path.

Litestar gives every app its pydantic and attrs plugins when those libraries are installed
(sqlmodel brings pydantic, aiohttp brings attrs), importing pydantic.v1 and attrs on the way: about
a tenth of the web process's start, for models this app does not have (its bodies and answers are
msgspec Structs). A restarted web process holds the alerts that arrive until it has started, so
its start is kept short.

Litestar 2.25 builds a path's route again each time a handler joins the path (a controller's
handlers join one by one), and keeps the OPTIONS handler it made for the first route: its `Allow`
lists the first handler's methods only (litestar-org/litestar#4169, fixed in 3.0). Leaving
Litestar's own OPTIONS handlers out of the handlers a route is built again from makes each route
make a fresh one, bound to itself.

Litestar's default event emitter starts an anyio task group for the app's event listeners at
every start, importing anyio's asyncio backend on the way (10-15 ms of the start); this app has
no listeners, and `NoEventListeners` starts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from litestar import Litestar
from litestar.events.emitter import BaseEventEmitterBackend
from litestar.plugins.core import MsgspecDIPlugin

if TYPE_CHECKING:
    from litestar.events.listener import EventListener
    from litestar.plugins import PluginProtocol
    from litestar.router import Router
    from litestar.types import RouteHandlerType
    from litestar.types.internal_types import RouteHandlerMapItem

# the qualified name of the handler function Litestar makes to answer OPTIONS on a route
_LITESTAR_OPTIONS = "HTTPRoute.create_options_handler.<locals>.options_handler"


def _without_litestar_options(
    by_path: dict[str, RouteHandlerMapItem],
) -> dict[str, RouteHandlerMapItem]:
    return {
        path: {
            method: handler
            for method, handler in handlers.items()
            if getattr(getattr(handler, "fn", None), "__qualname__", "") != _LITESTAR_OPTIONS
        }
        for path, handlers in by_path.items()
    }


class MsgspecLitestar(Litestar):
    """`Litestar` whose default plugins are msgspec's alone, and whose OPTIONS answers list every
    method of their path."""

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        return [*plugins, MsgspecDIPlugin()]

    @property
    def route_handler_method_map(self) -> dict[str, RouteHandlerMapItem]:
        return _without_litestar_options(super().route_handler_method_map)

    @classmethod
    def get_route_handler_map(
        cls, value: RouteHandlerType | Router
    ) -> dict[str, RouteHandlerMapItem]:
        return _without_litestar_options(super().get_route_handler_map(value))


class NoEventListeners(BaseEventEmitterBackend):
    """The event emitter of an app without event listeners (`event_emitter_backend=`)."""

    def __init__(self, listeners: Sequence[EventListener]) -> None:
        if listeners:
            raise ValueError("NoEventListeners takes no listeners: use Litestar's own emitter")
        super().__init__(listeners=listeners)

    def emit(self, event_id: str, *args: object, **kwargs: object) -> None:
        raise RuntimeError(f"no listener takes the event {event_id!r}")

    async def __aenter__(self) -> NoEventListeners:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None
