"""Local fakes of the notification services signalgate's tests send to, over real HTTP on
127.0.0.1: Telegram's Bot API (`POST /bot<token>/sendMessage`), a Discord webhook
(`POST /api/webhooks/<id>/<token>`) and a generic JSON webhook (apprise's `json://`). Each keeps
what it received and answers as its service does; `failures` are answered first (a 5xx)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """Everything the request carried, for looking for a secret."""
        return f"{self.path}\n{self.headers}\n{json.dumps(self.body)}"


@dataclass
class FakeChannel:
    service: str  # telegram, discord, json
    failures: list[int] = field(default_factory=list)  # statuses answered first, in order
    received: list[Received] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Received) -> tuple[int, dict[str, Any] | None]:
        with self.lock:
            self.received.append(request)
            status = self.failures.pop(0) if self.failures else 200
        if status >= 400:
            return status, {"ok": False, "error_code": status, "description": "Bad Gateway"}
        if self.service == "telegram":
            chat = request.body.get("chat_id")
            message = {"message_id": len(self.received), "chat": {"id": chat}, "text": "ok"}
            return 200, {"ok": True, "result": message}
        if self.service == "discord":
            return 204, None
        return 200, {"ok": True}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = {"raw": raw}
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, payload = self.server.channel.answer(Received(self.path, headers, body))
        data = json.dumps(payload).encode() if payload is not None else b""
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, channel: FakeChannel) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.channel = channel


@contextmanager
def serving(service: str) -> Iterator[FakeChannel]:
    channel = FakeChannel(service)
    server = _Server(channel)
    channel.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield channel
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
