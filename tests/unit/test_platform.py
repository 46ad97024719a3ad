"""Where signalgate runs: a Heroku dyno without DATABASE_URL is refused, the database pool is a
setting, and a local run reads `.env` (the environment winning)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config.env_file import with_env_file
from app.config.settings import ConfigError, load_settings
from app.entrypoints.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
HEROKU_DATABASE = "postgres://u:p@ec2.example:5432/d1"


def test_a_dyno_without_database_url_is_refused_in_one_sentence() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"DYNO": "web.1"})
    [line] = str(refused.value).splitlines()
    assert line.startswith("DATABASE_URL is not set on this dyno: add the heroku-postgresql")
    assert line.count(". ") == 0
    assert line.endswith(".")


def test_a_dyno_with_database_url_starts_and_no_dyno_keeps_the_sqlite_default() -> None:
    settings = load_settings({"DYNO": "worker.2", "DATABASE_URL": HEROKU_DATABASE})
    assert settings.database_url == "postgresql+psycopg://u:p@ec2.example:5432/d1"
    assert load_settings({}).database_url == "sqlite:///signalgate.db"


def test_the_dyno_refusal_is_reported_with_the_other_bad_values() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"DYNO": "web.1", "PORT": "eighty"})
    lines = str(refused.value).splitlines()
    assert len(lines) == 2
    assert any(line.startswith("DATABASE_URL is not set on this dyno") for line in lines)


@pytest.mark.parametrize("command", ["serve", "forward", "worker", "monitor", "strategy"])
def test_a_process_on_a_dyno_without_database_url_exits_2(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DYNO", f"{command}.1")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/12")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(SystemExit) as stopped:
        main([command])
    assert stopped.value.code == 2
    assert "DATABASE_URL is not set on this dyno" in capsys.readouterr().err


def test_without_a_env_file_the_environment_is_all(tmp_path: Path) -> None:
    local = with_env_file(tmp_path / ".env", {"PORT": "9000"})
    assert local.values == {"PORT": "9000"}
    assert local.said(tmp_path / ".env") is None


def test_the_env_file_adds_settings_and_the_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# a comment\n"
        "PORT=9100\n"
        "export API_TOKEN='from-the-file'\n"
        'WEBHOOK_SECRET="s3cret with spaces"  # trailing comment\n'
        'STRATEGY_SETTINGS={"momentum": {"threshold": 0.005}}\n'
        "DATABASE_URL=postgres://u:p$x@h/d\n"
        "LOG_LEVEL=DEBUG\n"
        "NOT A SETTING\n"
    )
    local = with_env_file(path, {"LOG_LEVEL": "WARNING", "HOME": "/root"})
    assert local.values == {
        "HOME": "/root",
        "LOG_LEVEL": "WARNING",  # set in the environment: kept
        "PORT": "9100",
        "API_TOKEN": "from-the-file",
        "WEBHOOK_SECRET": "s3cret with spaces",
        "STRATEGY_SETTINGS": '{"momentum": {"threshold": 0.005}}',
        "DATABASE_URL": "postgres://u:p$x@h/d",  # taken literally
    }
    settings = load_settings(local.values)
    assert (settings.port, settings.log_level) == (9100, "WARNING")
    assert settings.strategy_settings == {"momentum": {"threshold": 0.005}}
    said = local.said(path)
    assert said == f"read 5 setting(s) from {path}; the environment's own LOG_LEVEL kept"
    assert "from-the-file" not in said


def test_env_example_copied_to_env_gives_the_defaults(tmp_path: Path) -> None:
    # .env.example: "copy to .env ... Every value here is the default unless it says otherwise"
    local = with_env_file(ROOT / ".env.example", {})
    assert len(local.read) > 30
    assert load_settings(local.values) == load_settings({})
