"""`signalgate accounts ...` and `signalgate subscriptions ...` as a user runs them, on SQLite and
PostgreSQL: an account on a venue of VENUES, its limits and sizing, halted and resumed, subscribed
and unsubscribed; every refusal is one sentence saying what to do."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


class Cli:
    def __init__(self, database: str) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("VENUES")}
        self.env = {**clean, "DATABASE_URL": database, "VENUES": "paper,paper_b"}

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.entrypoints.cli", *args], env=self.env,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip


@pytest.fixture
def cli(database: str) -> Cli:
    return Cli(database)


def test_accounts_and_subscriptions_from_the_command_line(cli: Cli) -> None:
    added = cli("accounts", "add", "main", "--connection", "paper_b", "--multiplier", "2",
                "--max-order-notional", "2500")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines()[0] == (
        "signalgate: added main: active; venues: paper_b; limits: max_order_notional 2500;"
        " sizing: the alert's quantity x 2"
    )
    assert cli("subscriptions", "add", "trend", "main").stdout == (
        "signalgate: trend -> main (enabled)\n"
    )
    halted = cli("accounts", "halt", "main", "--reason", "rebalancing")
    assert "main: halted (rebalancing);" in halted.stdout
    changed = cli("accounts", "change", "main", "--qty-mode", "quote", "--quantity", "100")
    assert changed.stdout.endswith("sizing: 100 quote each entry x 2\n")
    assert cli("subscriptions", "disable", "trend", "main").stdout.endswith("(disabled)\n")
    assert cli("subscriptions", "list").stdout == "trend -> main (disabled)\n"
    assert "main: active;" in cli("accounts", "resume", "main").stdout

    refused = {
        ("accounts", "add", "main"): "an account is already named main: choose another name,"
        " or change that one",
        ("accounts", "add", "other", "--connection", "kraken"): "no connection is named kraken:"
        " `signalgate connections list` shows them (VENUES or `signalgate connections add`)",
        ("accounts", "add", "other", "--multiplier", "0"): "multiplier must be a number above 0"
        " and at most 1,000",
        ("subscriptions", "add", "trend", "ghost"): "no account is named 'ghost':"
        " `signalgate accounts list` shows them",
    }
    for args, sentence in refused.items():
        done = cli(*args)
        assert (done.returncode, done.stderr) == (2, f"signalgate: {sentence}\n")

    assert cli("accounts", "remove", "main").returncode == 0
    assert cli("subscriptions", "list").stdout == (
        "no subscriptions: each alert trades the implicit account\n"
    )
