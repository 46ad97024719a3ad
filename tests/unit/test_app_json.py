"""app.json (the Heroku button and review apps) agrees with the Procfile, the settings and the
README's table of database connections."""

from __future__ import annotations

import json
import re
from pathlib import Path

from app.config.settings import TradingMode, load_settings
from app.entrypoints.cli.main import PROCFILE_PROCESSES
from tests.unit.test_docs import settings_read_by_config

ROOT = Path(__file__).resolve().parents[2]
APP = json.loads((ROOT / "app.json").read_text())
PROCFILE = dict(
    line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
)
README = (ROOT / "README.md").read_text()
# app.json's documented top-level keys (Heroku's app.json schema)
APP_JSON_KEYS = {
    "name", "description", "keywords", "website", "repository", "logo", "success_url", "scripts",
    "env", "formation", "image", "addons", "buildpacks", "environments", "stack",
}  # fmt: skip
# Heroku Postgres plans' connection limits; the Python buildpack's WEB_CONCURRENCY on eco,
# basic and standard-1x dynos
ESSENTIAL_CONNECTIONS = 20
BUILDPACK_WEB_CONCURRENCY = 2


def test_app_json_uses_only_documented_keys() -> None:
    assert set(APP) <= APP_JSON_KEYS
    for name, variable in APP["env"].items():
        assert set(variable) <= {"description", "value", "required", "generator"}, name
    for name, process in APP["formation"].items():
        assert set(process) <= {"quantity", "size"}, name


def test_the_formation_runs_every_procfile_process() -> None:
    quantities = {name: process["quantity"] for name, process in APP["formation"].items()}
    assert quantities == {"web": 1, "forwarder": 1, "worker": 1, "monitor": 1, "strategy": 0}
    assert set(quantities) == set(PROCFILE) - {"release"}
    assert PROCFILE["release"] == "signalgate migrate"  # Heroku runs it before each release


def test_signalgate_run_starts_the_procfile_processes() -> None:
    assert {name: f"signalgate {command}" for name, command in PROCFILE_PROCESSES.items()} == {
        name: command for name, command in PROCFILE.items() if name != "release"
    }


def test_the_add_ons_give_the_database_and_redis() -> None:
    plans = {addon["plan"].split(":")[0] for addon in APP["addons"]}
    assert plans == {"heroku-postgresql", "heroku-redis"}


def test_secrets_are_generated_and_trading_is_paper() -> None:
    env = APP["env"]
    assert env["WEBHOOK_SECRET"] == {**env["WEBHOOK_SECRET"], "generator": "secret"}
    assert env["API_TOKEN"] == {**env["API_TOKEN"], "generator": "secret"}
    assert "value" not in env["WEBHOOK_SECRET"]
    assert "value" not in env["API_TOKEN"]
    assert env["TRADING_MODE"]["value"] == "paper"


def test_every_app_json_variable_is_a_setting_and_a_dyno_starts_with_them() -> None:
    assert set(APP["env"]) <= settings_read_by_config()
    environ = {
        name: variable.get("value", "generated-secret-64-hex-characters")
        for name, variable in APP["env"].items()
    }
    environ |= {
        "DYNO": "web.1",  # what the add-ons set:
        "DATABASE_URL": "postgres://u:p@ec2-1-2-3-4.compute-1.amazonaws.com:5432/d1",
        "REDIS_URL": "rediss://:p@ec2-5-6-7-8.compute-1.amazonaws.com:6380",
    }
    settings = load_settings(environ)
    assert settings.trading_mode is TradingMode.PAPER
    assert (settings.db_pool_size, settings.db_max_overflow) == (2, 0)


def most_connections(formation: dict[str, int], pool: int, overflow: int, web: int) -> int:
    """The README's count: one engine per process, at most pool + overflow connections each; a
    web dyno runs `web` processes; plus the release phase's one."""
    per_process = pool + overflow
    dynos = sum(quantity * (web if name == "web" else 1) for name, quantity in formation.items())
    return dynos * per_process + 1


def test_the_app_json_formation_fits_an_essential_plan_as_the_readme_says() -> None:
    formation = {name: process["quantity"] for name, process in APP["formation"].items()}
    pool, overflow = (
        int(APP["env"]["DB_POOL_SIZE"]["value"]),
        int(APP["env"]["DB_MAX_OVERFLOW"]["value"]),
    )
    with_app_json = most_connections(formation, pool, overflow, BUILDPACK_WEB_CONCURRENCY)
    with_defaults = most_connections(formation, 5, 5, BUILDPACK_WEB_CONCURRENCY)
    web_overlap = BUILDPACK_WEB_CONCURRENCY * (pool + overflow)  # a preboot deploy's new web
    assert with_app_json + web_overlap + 2 <= ESSENTIAL_CONNECTIONS  # and heroku run, pg:psql
    total = re.search(r"^\| \*\*the app\.json formation.*$", README, re.M)
    assert total is not None, "the README's connections table has no total row"
    assert re.findall(r"\*\*(\d+)\*\*", total.group(0)) == [str(with_defaults), str(with_app_json)]
