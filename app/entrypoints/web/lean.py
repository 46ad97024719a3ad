"""Litestar with msgspec alone.

Litestar gives every app its pydantic and attrs plugins when those libraries are installed
(sqlmodel brings pydantic, aiohttp brings attrs), importing pydantic.v1 and attrs on the way: about
a tenth of the web process's start, for models this app does not have (its bodies and answers are
msgspec Structs). A restarted web process holds the alerts that arrive until it has started, so
its start is kept short.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.plugins import PluginProtocol
from litestar.plugins.core import MsgspecDIPlugin


class MsgspecLitestar(Litestar):
    """`Litestar` whose default plugins are msgspec's alone."""

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        return [*plugins, MsgspecDIPlugin()]
