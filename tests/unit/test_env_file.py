"""`.env` of a local run (`signalgate run`, `make run`): read as `.env.example` says, the
environment winning over the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.config.env_file import with_env_file
from app.config.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The process's environment, emptied for the test."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    return monkeypatch


def ours(merged: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in merged.items() if name != "PYTEST_CURRENT_TEST"}


def test_the_file_adds_what_the_environment_does_not_set(
    tmp_path: Path, environ: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# a comment\n"
        "PORT=9000\n"
        "export API_TOKEN='from file'\n"
        'WEBHOOK_SECRET="s3cret # not a comment"\n'
        "LOG_LEVEL=DEBUG  # a comment after a value\n"
        "# QUEUE_NAME=left-out\n"
        "\n"
    )
    environ.setenv("PORT", "8100")
    environ.setenv("HOME", "/home/me")
    merged, taken = with_env_file(env_file)
    assert ours(merged) == {
        "PORT": "8100",  # the environment wins
        "HOME": "/home/me",
        "API_TOKEN": "from file",
        "WEBHOOK_SECRET": "s3cret # not a comment",
        "LOG_LEVEL": "DEBUG",
    }
    assert taken == ["API_TOKEN", "WEBHOOK_SECRET", "LOG_LEVEL"]


def test_without_a_file_the_environment_is_all(tmp_path: Path, environ: pytest.MonkeyPatch) -> None:
    environ.setenv("PORT", "8100")
    merged, taken = with_env_file(tmp_path / ".env")
    assert (ours(merged), taken) == ({"PORT": "8100"}, [])


def test_a_value_can_name_another_variable(tmp_path: Path, environ: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=sqlite:///${STATE}/signalgate.db\n")
    environ.setenv("STATE", "/var/lib/sg")
    merged, _ = with_env_file(env_file)
    assert merged["DATABASE_URL"] == "sqlite:////var/lib/sg/signalgate.db"


def test_env_example_copied_as_it_is_gives_the_default_settings(
    environ: pytest.MonkeyPatch,
) -> None:
    merged, taken = with_env_file(ROOT / ".env.example")
    assert "DATABASE_URL" in taken
    assert load_settings(merged) == load_settings({})
