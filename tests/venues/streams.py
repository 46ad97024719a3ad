"""Serve a `FakeVenue`'s websocket streams on 127.0.0.1 (a free port, an aiohttp server in a
thread of its own) for a `with` block, beside its REST API (tests/venues/http.py).

The venue's dialect answers what a client sends on a stream and shapes the events it pushes
(`StreamDialect`, e.g. tests/venues/binance_streams.py, binance_market.py); the engine tells
every change of an order (`FakeVenue.watchers`) and every move of a book (`book_watchers`).
Test controls, as the faults a real stream has: `drop()` closes every connection from the
server's side (a venue's restart, a network cut), `refusing` closes each new connection at once
(the venue's streams are down), `muted` loses every event while set (the stream looked alive and
said nothing), `repeat` sends each event that many times (a venue that re-sends an update after
a reconnect of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import WSMsgType, web

from tests.venues.core import Book, FakeVenue, Json, Order

Push = Callable[[Json], None]


class Listener(Protocol):
    """One open stream of the venue: what it answers to a client's message, and which events
    an order change makes on it."""

    def answer(self, message: Json) -> list[Json]: ...

    def events(self, order: Order) -> list[Json]: ...

    def book_events(self, symbol: str, before: Book, after: Book) -> list[Json]:
        """The events of a move of `symbol`'s book (the market streams; others: none)."""
        ...


class StreamDialect(Protocol):
    def stream_opened(self, path: str, query: dict[str, str]) -> Listener | None:
        """The listener of a connection to `path`, or None to refuse it (the server closes)."""
        ...


@dataclass
class _Connection:
    socket: web.WebSocketResponse
    listener: Listener
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


class StreamServer:
    """The venue's streams; `url` is ws://127.0.0.1:PORT once started."""

    def __init__(self, venue: FakeVenue) -> None:
        self.venue = venue
        self.muted = False
        self.refusing = False  # every new connection closed at once (the venue is down)
        self.repeat = 1
        self.connections_made = 0
        self.events_sent = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._open: list[_Connection] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- test controls -------------------------------------------------------------------------

    def drop(self) -> None:
        """Close every open connection from the server's side."""
        asyncio.run_coroutine_threadsafe(self._drop(), self._loop).result(5)

    def open_connections(self) -> int:
        return len(self._open)

    def subscribed(self) -> set[str]:
        """The streams the open connections subscribed to (those whose listener keeps a set
        `streams`: the market streams), read on the server's loop."""

        async def read() -> set[str]:
            return {s for c in self._open for s in getattr(c.listener, "streams", ())}

        return asyncio.run_coroutine_threadsafe(read(), self._loop).result(5)

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> StreamServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        self.venue.watchers.append(self._changed)
        self.venue.book_watchers.append(self._moved)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(ValueError):
            self.venue.watchers.remove(self._changed)
        with contextlib.suppress(ValueError):
            self.venue.book_watchers.remove(self._moved)
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp tells the bound port nowhere else
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"ws://127.0.0.1:{port}"

    async def _stop(self) -> None:
        await self._drop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _drop(self) -> None:
        for connection in list(self._open):
            await connection.socket.close()

    # --- serving -------------------------------------------------------------------------------

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        dialect: StreamDialect = self.venue  # type: ignore[assignment]
        listener = dialect.stream_opened(request.path, dict(request.query))
        if listener is None or self.refusing:
            await socket.close(code=4000, message=b"unknown stream")
            return socket
        connection = _Connection(socket, listener)
        self.connections_made += 1
        self._open.append(connection)
        sender = asyncio.create_task(self._send(connection))
        try:
            async for message in socket:
                if message.type is not WSMsgType.TEXT:
                    continue
                for answer in listener.answer(json.loads(message.data)):
                    connection.queue.put_nowait(json.dumps(answer))
        finally:
            self._open.remove(connection)
            sender.cancel()
        return socket

    async def _send(self, connection: _Connection) -> None:
        while True:
            text = await connection.queue.get()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await connection.socket.send_str(text)
                self.events_sent += 1

    def _changed(self, order: Order) -> None:
        """From the engine's thread, under its lock: the events of every open stream, shaped
        now (the order as it stands), queued on the server's loop."""
        if self.muted:
            return
        for connection in list(self._open):
            self._push(connection, connection.listener.events(order))

    def _moved(self, symbol: str, before: Book, after: Book) -> None:
        """From the engine's thread, under its lock: a book moved (the market streams)."""
        if self.muted:
            return
        for connection in list(self._open):
            self._push(connection, connection.listener.book_events(symbol, before, after))

    def _push(self, connection: _Connection, events: list[Json]) -> None:
        for event in events:
            text = json.dumps(event)
            for _ in range(self.repeat):
                self._loop.call_soon_threadsafe(connection.queue.put_nowait, text)


async def until(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    """Wait for `condition` (a generous bound: a hung test fails, a slow machine passes)."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true")
