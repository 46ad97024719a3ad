"""A TCP proxy in front of PostgreSQL that delays every round trip and counts them.

Each client's bytes reach the server `delay` after they arrive (in order; bytes sent together,
like a pipeline, travel together), the server's answers go back at once: a round trip costs the
delay once, as a distant database's network does. The proxy reads the client's side of the
PostgreSQL protocol (sslmode=disable) and counts, per listening port:

- round trips: the client's flights, each a burst of bytes sent after an answer came back (a
  pipeline of statements is one);
- statements: Execute and simple Query messages, by the first word of their SQL; transactions:
  the COMMITs among them;
- the statements' texts (their first 100 characters), to tell where they come from.

One port per process of the benchmark (`--ports`), so each process's share is its own. The
counters are written as JSON to `--stats` every 0.2 s and at exit. Run by the execution benchmark
(`python -m bench.execution --database postgres --pg-delay-ms 1`); on its own:
`python -m bench.pg_proxy --target 127.0.0.1:5432 --ports 6001,6002 --delay-ms 1 --stats s.json`.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import heapq
import json
import os
import signal
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SSL_REQUEST, _GSS_REQUEST = 80877103, 80877104


@dataclass
class Counts:
    """What went through one listening port."""

    connections: int = 0
    round_trips: int = 0
    statements: collections.Counter[str] = field(default_factory=collections.Counter)
    texts: collections.Counter[str] = field(default_factory=collections.Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "round_trips": self.round_trips,
            "statements": dict(self.statements),
            "texts": dict(self.texts.most_common(300)),
        }


class _ClientMessages:
    """The client's side of the protocol, read as it streams by: counts what it executes."""

    def __init__(self, counts: Counts, lock: threading.Lock) -> None:
        self._counts, self._lock = counts, lock
        self._buffer = bytearray()
        self._startup = True  # untyped messages until the StartupMessage
        # statement name -> (first word, the text's first 100 characters), made at its Parse
        self._prepared: dict[bytes, tuple[str, str]] = {}
        self._portals: dict[bytes, tuple[str, str]] = {}  # portal name -> the same

    def feed(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while True:
            if self._startup:
                if len(buffer) < 8:
                    return
                (length,) = struct.unpack_from("!I", buffer, 0)
                if len(buffer) < length:
                    return
                (code,) = struct.unpack_from("!I", buffer, 4)
                self._startup = code in (_SSL_REQUEST, _GSS_REQUEST)
                del buffer[:length]
                continue
            if len(buffer) < 5:
                return
            kind = bytes(buffer[0:1])
            (length,) = struct.unpack_from("!I", buffer, 1)
            if len(buffer) < 1 + length:
                return
            body = bytes(buffer[5 : 1 + length])
            del buffer[: 1 + length]
            self._message(kind, body)

    def _message(self, kind: bytes, body: bytes) -> None:
        if kind == b"P":  # Parse: name, SQL
            name, rest = body.split(b"\0", 1)
            self._prepared[name] = _key(rest.split(b"\0", 1)[0])
        elif kind == b"B":  # Bind: portal, statement
            portal, statement, _ = body.split(b"\0", 2)
            self._portals[portal] = self._prepared.get(statement, ("?", "?"))
        elif kind == b"E":  # Execute: portal
            self._count(self._portals.get(body.split(b"\0", 1)[0], ("?", "?")))
        elif kind == b"Q":  # simple query
            self._count(_key(body.rstrip(b"\0")))

    def _count(self, key: tuple[str, str]) -> None:
        word, text = key
        with self._lock:
            self._counts.statements[word] += 1
            self._counts.texts[text] += 1


def _key(sql: bytes) -> tuple[str, str]:
    """A statement's first word and the first 100 characters of its text, spaces squeezed."""
    text = " ".join(sql[:400].decode(errors="replace").split())[:100]
    return (text.split(" ", 1)[0] or "?").upper(), text


class DelayProxy:
    def __init__(self, target: tuple[str, int], delay: float, stats: Path) -> None:
        self.target, self.delay, self.stats = target, delay, stats
        self.counts: dict[int, Counts] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # (due, sequence, socket, data): one sender thread delivers every client's bytes on time
        self._due: list[tuple[float, int, socket.socket, bytes]] = []
        self._due_ready = threading.Condition()
        self._sequence = 0

    def listen(self, port: int) -> None:
        self.counts[port] = Counts()
        server = socket.create_server(("127.0.0.1", port), reuse_port=False)
        threading.Thread(target=self._accept, args=(server, port), daemon=True).start()

    def _accept(self, server: socket.socket, port: int) -> None:
        while not self._stop.is_set():
            client, _ = server.accept()
            upstream = socket.create_connection(self.target)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.counts[port].connections += 1
            answered = threading.Event()
            answered.set()
            messages = _ClientMessages(self.counts[port], self._lock)
            threading.Thread(
                target=self._upstream, args=(client, upstream, port, answered, messages),
                daemon=True,
            ).start()  # fmt: skip
            threading.Thread(
                target=self._downstream, args=(upstream, client, answered), daemon=True
            ).start()

    def _upstream(
        self,
        client: socket.socket,
        upstream: socket.socket,
        port: int,
        answered: threading.Event,
        messages: _ClientMessages,
    ) -> None:
        counts = self.counts[port]
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if answered.is_set():  # a new flight: the client waited for an answer
                    answered.clear()
                    with self._lock:
                        counts.round_trips += 1
                messages.feed(data)
                self._send_later(upstream, data)
        self._send_later(upstream, b"")  # the client closed: close upstream in turn

    def _downstream(
        self, upstream: socket.socket, client: socket.socket, answered: threading.Event
    ) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                answered.set()
                client.sendall(data)
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)
        client.close()

    def _send_later(self, sock: socket.socket, data: bytes) -> None:
        with self._due_ready:
            self._sequence += 1
            heapq.heappush(self._due, (time.monotonic() + self.delay, self._sequence, sock, data))
            self._due_ready.notify()

    def deliver(self) -> None:
        """Send each client's bytes when they are due (the one thread that writes upstream)."""
        while not self._stop.is_set():
            with self._due_ready:
                while not self._due:
                    self._due_ready.wait(0.5)
                    if self._stop.is_set():
                        return
                due, _, sock, data = self._due[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._due_ready.wait(wait)  # woken early by newer bytes: look again
                    continue
                heapq.heappop(self._due)
            with contextlib.suppress(OSError):
                if data:
                    sock.sendall(data)
                else:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()

    def write_stats(self) -> None:
        with self._lock:
            snapshot = {str(port): counts.as_json() for port, counts in self.counts.items()}
        partial = self.stats.with_suffix(".tmp")
        partial.write_text(json.dumps(snapshot))
        os.replace(partial, self.stats)

    def run(self) -> None:
        threading.Thread(target=self.deliver, daemon=True).start()
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        try:
            while not self._stop.wait(0.2):
                self.write_stats()
        finally:
            self.write_stats()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", default="127.0.0.1:5432")
    parser.add_argument("--ports", required=True, help="listening ports, comma-separated")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--stats", type=Path, required=True)
    args = parser.parse_args()
    host, port = args.target.rsplit(":", 1)
    proxy = DelayProxy((host, int(port)), args.delay_ms / 1000, args.stats)
    for listening in args.ports.split(","):
        proxy.listen(int(listening))
    proxy.run()


if __name__ == "__main__":
    main()
