"""The deployment files agree with the code: the Procfile with `signalgate run`."""

from __future__ import annotations

from pathlib import Path

from app.entrypoints.cli.main import PROCFILE

ROOT = Path(__file__).resolve().parents[2]


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())  # type: ignore[misc]


def test_signalgate_run_starts_each_procfile_process_once_as_the_procfile_does() -> None:
    commands = procfile()
    assert commands.pop("release") == "signalgate migrate"  # `run` migrates before it starts
    assert commands == {name: f"signalgate {command}" for name, command in PROCFILE.items()}


def test_the_procfile_runs_one_forwarder_of_its_own() -> None:
    commands = procfile()
    assert commands["forwarder"] == "signalgate forward"
    assert commands["web"] == "signalgate serve --no-forwarder"  # no second one as web's child
