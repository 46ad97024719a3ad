"""Serve a `FakeVenue` over HTTP on 127.0.0.1 (a free port, in a thread) for a `with` block."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from tests.venues.core import FakeVenue, Request

V = TypeVar("V", bound=FakeVenue)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        split = urlsplit(self.path)
        request = Request(
            self.command,
            split.path,
            split.query,
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        answer = self.server.venue.handle(request)
        if answer is None:
            self.close_connection = True
            return
        status, payload = answer
        text = isinstance(payload, str)
        data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if text else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PUT = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close joins the handler threads
    block_on_close = True

    def __init__(self, venue: FakeVenue) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.venue = venue

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up on a hung request is expected; stay quiet."""


@dataclass
class Served(Generic[V]):
    venue: V
    url: str  # http://127.0.0.1:PORT


class serve(Generic[V]):  # noqa: N801 - used as a context manager, like `open`
    def __init__(self, venue: V) -> None:
        self.venue = venue
        self._server = _Server(venue)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> Served[V]:
        self._thread.start()
        host, port = self._server.server_address[:2]
        return Served(self.venue, f"http://{host!s}:{port}")

    def __exit__(self, *exc: object) -> None:
        self.venue.release_hung()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
