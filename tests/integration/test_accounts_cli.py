"""`signalgate accounts ...` and `signalgate subscriptions ...` as a user runs them, on SQLite and
PostgreSQL: an account on a venue of VENUES, its limits and sizing, halted and resumed, subscribed
and unsubscribed; every refusal is one sentence saying what to do."""

from __future__ import annotations

import os
import subprocess

import pytest
from cryptography.fernet import Fernet

from tests.cli_processes import CliProcesses


class Cli:
    def __init__(self, processes: CliProcesses, database: str) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("VENUES")}
        self.env = {**clean, "DATABASE_URL": database, "VENUES": "paper,paper_b"}
        self.processes = processes

    def __call__(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return self.processes.run(list(args), {**self.env, **env}, stdin)


@pytest.fixture
def cli(cli_processes: CliProcesses, database: str) -> Cli:
    return Cli(cli_processes, database)


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


BOT_TOKEN = "424242424:AAcli-account-SECRET-token"
HOOK = "json://hooks.example.com:8443/cli-SECRET-path?+X-Key=cli-SECRET-header"


def test_an_accounts_own_channels_from_the_command_line(cli: Cli) -> None:
    assert cli("accounts", "add", "main").returncode == 0
    urls = f"tgram://{BOT_TOKEN}/-100123\n{HOOK}\n"
    refused = cli("accounts", "notify", "main", stdin=urls)  # SECRETS_KEY unset
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        "signalgate: SECRETS_KEY is not set, so an account's notification URLs cannot be stored"
        " encrypted: set it to a key made by `signalgate connections genkey`"
    )
    key = Fernet.generate_key().decode()
    given = cli("accounts", "notify", "main", "--events", "0:all;1:urgent", stdin=urls,
                SECRETS_KEY=key)  # fmt: skip
    assert given.returncode == 0, given.stderr
    shown = (
        "notify: 0 telegram tgram://***, 1 json json://hooks.example.com:8443/*** (events:"
        " 0:all;1:urgent)"
    )
    assert given.stdout.endswith(f"{shown}\n")
    assert cli("accounts", "list").stdout.endswith(f"{shown}\n")  # no key needed to list
    bad = cli("accounts", "notify", "main", "--events-only", "--events", "2:all", SECRETS_KEY=key)
    assert (bad.returncode, bad.stderr) == (
        2, "signalgate: notify_events is not valid: there is no channel 2: the account has 2,"
        " numbered from 0\n",
    )  # fmt: skip
    changed = cli("accounts", "notify", "main", "--events-only", "--events", "1:closed")
    assert changed.stdout.endswith("(events: 1:closed)\n")
    cleared = cli("accounts", "notify", "main", "--clear")
    assert cleared.stdout == (
        "signalgate: main: active; venues: every venue; limits: the global ones; sizing: the"
        " alert's quantity\n"
    )
    for done in (refused, given, bad, changed, cleared):
        for secret in (BOT_TOKEN, "cli-SECRET-path", "cli-SECRET-header"):
            assert secret not in done.stdout + done.stderr
