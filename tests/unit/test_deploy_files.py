"""The deployment files agree with the code: the Procfile with `signalgate run`, app.json (the
Heroku button and review apps) with the Procfile and the settings."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from app.config.settings import TradingMode, load_settings
from app.entrypoints.cli.main import PROCFILE
from tests.unit.test_docs import README, settings_read_by_config

ROOT = Path(__file__).resolve().parents[2]
APP_JSON: dict[str, Any] = json.loads((ROOT / "app.json").read_text())


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


def test_app_json_runs_each_procfile_process_but_the_release_phase() -> None:
    formation = {name: kind["quantity"] for name, kind in APP_JSON["formation"].items()}
    assert set(formation) == set(procfile()) - {"release"}  # Heroku runs release on each deploy
    assert formation == {
        "web": 1, "forwarder": 1, "worker": 1, "monitor": 1,
        "strategy": 0, "notifier": 0,  # idle until STRATEGIES, NOTIFY_URLS are set
    }  # fmt: skip


def test_app_json_provisions_postgres_and_redis_on_the_python_buildpack() -> None:
    plans = [addon["plan"].split(":")[0] for addon in APP_JSON["addons"]]
    assert sorted(plans) == ["heroku-postgresql", "heroku-redis"]
    assert APP_JSON["buildpacks"] == [{"url": "heroku/python"}]


def test_every_app_json_variable_is_a_documented_setting() -> None:
    for name in APP_JSON["env"]:
        assert name in settings_read_by_config(), name
        assert f"`{name}`" in README, name


def test_app_json_generates_the_secrets_and_trades_on_paper() -> None:
    env = APP_JSON["env"]
    assert env["WEBHOOK_SECRET"]["generator"] == env["API_TOKEN"]["generator"] == "secret"
    assert "value" not in env["WEBHOOK_SECRET"]
    assert "value" not in env["API_TOKEN"]
    assert env["TRADING_MODE"]["value"] == "paper"
    assert all(variable["description"] for variable in env.values())


def test_a_dyno_of_the_app_json_app_starts_with_its_settings() -> None:
    # what Heroku sets: the generated secrets (64 hex digits), the add-ons' URLs, DYNO
    environ = {
        name: variable.get("value") or secrets.token_hex(32)
        for name, variable in APP_JSON["env"].items()
    }
    environ |= {
        "DYNO": "web.1",
        "PORT": "31337",
        "DATABASE_URL": "postgres://u:p@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d1",
        "REDIS_URL": "rediss://:p@ec2-5-6-7-8.compute-1.amazonaws.com:6380",
    }
    settings = load_settings(environ)
    assert settings.trading_mode is TradingMode.PAPER
    assert (settings.db_pool_size, settings.db_max_overflow) == (2, 0)
