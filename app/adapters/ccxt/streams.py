"""The `OrderStream` port over ccxt.pro's `watch_orders` (the ccxt package's websocket layer).

What it tells is only which order changed: the monitor reads the order back through
`CcxtExchange` as it always does, so nothing about an order's state is taken from here.

Each `subscribe` starts from a new ccxt.pro instance (the markets read once are handed over):
ccxt keeps a venue's listen key and its subscriptions on the instance, and a stream that dropped
must not come back on a stale key. `subscribe` returns once the stream is live: ccxt's
`authenticate()` first where the profile says it makes the subscription or its key
(`stream_authenticate`), then `watch_orders` and its socket open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import ccxt.pro as ccxt_pro
from ccxt.base import errors as ccxt_errors

from app.adapters.ccxt.calls import translate
from app.adapters.ccxt.client import Mode, OwnsCcxtClient, ccxt_client, venue_profile
from app.ports.errors import Retryable
from app.ports.streams import OrderUpdate

log = logging.getLogger(__name__)
CONNECT_SECONDS = 10.0


def overridden_stream_urls(ws: object, stream_url: str, paths: Mapping[str, str]) -> object:
    """ccxt's `urls['api']['ws']` with each of `paths` (dotted keys) pointed at `stream_url`."""
    root = stream_url.rstrip("/")
    found: dict[str, Any] = dict(ws) if isinstance(ws, dict) else {}
    for dotted, path in paths.items():
        node = found
        *parents, last = dotted.split(".")
        for key in parents:
            inner = node.get(key)
            node[key] = dict(inner) if isinstance(inner, dict) else {}
            node = node[key]
        node[last] = root + path
    return found


class CcxtOrderStream(OwnsCcxtClient):
    """Implements `app.ports.streams.OrderStream` for one ccxt venue."""

    def __init__(
        self,
        exchange_id: str,
        *,
        mode: Mode,
        api_key: str,
        secret: str,
        password: str | None = None,
        base_url: str | None = None,
        stream_url: str | None = None,
        options: Mapping[str, object] | None = None,
        timeout_ms: int = 10_000,
        connect_seconds: float = CONNECT_SECONDS,
    ) -> None:
        self.name = exchange_id
        self.profile = venue_profile(exchange_id, mode)
        self._connect_seconds = connect_seconds
        credentials = {"apiKey": api_key, "secret": secret}
        if password:
            credentials["password"] = password
        # no positions snapshot: watch_orders would read the positions over REST first
        extra = {**(options or {}), "watchPositions": {"fetchPositionsSnapshot": False}}

        def build() -> Any:
            client = ccxt_client(exchange_id, mode, self.profile, credentials=credentials,
                                 base_url=base_url, options=extra, timeout_ms=timeout_ms,
                                 module=ccxt_pro)  # fmt: skip
            if stream_url is not None:
                client.urls["api"]["ws"] = overridden_stream_urls(
                    client.urls["api"].get("ws"), stream_url, self.profile.stream_paths
                )
            return client

        self._build = build
        self.client = build()
        self._markets: Any = None
        self._watch: asyncio.Future[Any] | None = None

    def __repr__(self) -> str:  # never the secret
        return f"CcxtOrderStream({self.name!r})"

    async def subscribe(self) -> None:
        await self._drop()
        try:
            await asyncio.wait_for(self._subscribe(), self._connect_seconds)
        except TimeoutError:
            await self._drop()
            raise Retryable(f"{self.name}: the order stream did not open within"
                            f" {self._connect_seconds:g} s") from None  # fmt: skip
        except ccxt_errors.BaseError as error:
            await self._drop()
            raise translate(error, self.name) from error

    async def _subscribe(self) -> None:
        if self._markets is None:
            self._markets = await self.client.load_markets()
        else:
            self.client.set_markets(self._markets)
        if self.profile.stream_authenticate:
            await self.client.authenticate()
        self._watch = asyncio.ensure_future(self.client.watch_orders())
        while not self._live():
            if self._watch.done():
                self._watch.result()  # raises what ended it
                return  # an update already: live
            await asyncio.sleep(0.01)

    def _live(self) -> bool:
        """Whether a socket of the instance is open and none is still opening."""
        clients = [c for c in (self.client.clients or {}).values() if c.url.startswith("ws")]
        return bool(clients) and all(c.isConnected and not c.connecting for c in clients)

    async def updates(self) -> list[OrderUpdate]:
        if self._watch is None:
            raise Retryable(f"{self.name}: the order stream is not subscribed")
        try:
            raw = await self._watch
        except ccxt_errors.BaseError as error:
            self._watch = None
            raise translate(error, self.name) from error
        self._watch = asyncio.ensure_future(self.client.watch_orders())
        prefix = self.profile.client_id_prefix
        return [
            OrderUpdate(
                symbol=order.get("symbol"),
                order_id=None if order.get("id") is None else str(order["id"]),
                client_order_id=_unprefixed(order.get("clientOrderId"), prefix),
            )
            for order in raw
        ]

    async def _drop(self) -> None:
        """Stop watching and close the instance's sockets; the next subscribe starts anew."""
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(BaseException):
                await watch
        if self.client.clients:
            await self.client.close()
            self.client = self._build()

    async def close(self) -> None:
        await self._drop()
        await self.client.close()


def _unprefixed(client_order_id: object, prefix: str) -> str | None:
    if not isinstance(client_order_id, str) or not client_order_id:
        return None
    return client_order_id.removeprefix(prefix) if prefix else client_order_id
