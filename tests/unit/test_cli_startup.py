"""Processes that need Redis refuse to start without REDIS_URL in one sentence, not a traceback."""

from __future__ import annotations

import pytest

from app.entrypoints.cli.main import main


@pytest.mark.parametrize(
    "command", ["serve", "forward", "worker", "monitor", "strategy", "notifier"]
)
def test_a_process_without_redis_url_exits_2_saying_what_to_set(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(SystemExit) as stopped:
        main([command])
    assert stopped.value.code == 2
    assert "set REDIS_URL" in capsys.readouterr().err
