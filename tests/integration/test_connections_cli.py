"""`signalgate connections ...` as a user runs it, on SQLite and PostgreSQL, against the local fake
Binance: keys read from standard input and never printed or logged (every line of every command's
output is searched), a wrong secret named and its failure kept, rekey under a new SECRETS_KEY."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.cli_processes import CliProcesses
from tests.fake_binance import API_KEY, API_SECRET, RunningFake

WRONG = "not-the-api-secret"


class Cli:
    """Runs the command line with these settings and keeps every line it wrote."""

    def __init__(self, processes: CliProcesses, database: str, fake: RunningFake) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("BINANCE_", "VENUES"))}
        self.env = {**clean, "DATABASE_URL": database, "LOG_LEVEL": "INFO"}
        self.url = fake.url
        self.said: list[str] = []
        self.processes = processes

    def __call__(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        done = self.processes.run(["connections", *args], {**self.env, **env}, stdin)
        self.said += [done.stdout, done.stderr]
        return done


@pytest.fixture
def cli(cli_processes: CliProcesses, database: str, fake: RunningFake) -> Cli:
    return Cli(cli_processes, database, fake)


def test_connections_from_the_command_line(cli: Cli) -> None:
    old = cli("genkey").stdout.strip()
    new = cli("genkey").stdout.strip()
    assert len(old) == len(new) == 44
    binance = ["--venue", "binance", "--mode", "testnet", "--api-url", cli.url]

    added = cli("add", "binance_main", *binance, stdin=f"{API_KEY}\n{WRONG}\n\n", SECRETS_KEY=old)
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith(
        "signalgate: added binance_main (id 1): binance testnet, stored, enabled; keys: api_key"
        " …key, api_secret; not tested\n"
    )
    failed = cli("test", "binance_main", SECRETS_KEY=old)
    assert failed.returncode == 1
    first = failed.stdout.splitlines()[0]
    assert first.startswith(
        "binance_main: failed - the API secret is refused: the venue finds the signature wrong ("
    )
    assert first.endswith("); check the API secret.")
    listed = cli("list", SECRETS_KEY=old).stdout.splitlines()
    assert listed[0] == (
        "paper: paper paper, environment, read-only, enabled; keys: none; not tested"
    )
    assert "; last test failed at " in listed[1]

    assert cli("remove", "1").stdout == "signalgate: removed binance_main\n"
    cli("add", "binance_main", *binance, stdin=f"{API_KEY}\n{API_SECRET}\n", SECRETS_KEY=old)
    assert cli("disable", "binance_main").stdout.startswith("signalgate: binance_main (id 2):")
    assert ", disabled;" in cli("list").stdout
    cli("enable", "2")
    rekeyed = cli("rekey", SECRETS_KEY=f"{new},{old}")
    assert rekeyed.stdout.startswith("signalgate: 1 sealed secret(s) (connections' keys,")
    # at DEBUG ccxt logs every request with its headers: the key must show as ***
    tested = cli("test", "binance_main", SECRETS_KEY=new, LOG_LEVEL="DEBUG")
    assert tested.returncode == 0, tested.stderr
    assert tested.stdout.splitlines()[:3] == [
        "binance_main: ok - the keys work: markets, balance and permissions read.",
        "  balance: BTC 0.5, ETH 2, USDT 10000",
        tested.stdout.splitlines()[2],
    ]
    assert tested.stdout.splitlines()[2].endswith(" ms: markets loaded (3)")
    assert "connection binance_main tested: the keys work" in tested.stderr  # logged
    assert "X-MBX-APIKEY': '***'" in tested.stderr

    said = "\n".join(cli.said)
    for secret in (API_KEY, API_SECRET, WRONG):
        assert secret not in said


def test_refusals_are_one_sentence_on_stderr(cli: Cli) -> None:
    binance = ["--venue", "binance", "--mode", "testnet"]

    no_key = cli("add", "binance_main", *binance, stdin=f"{API_KEY}\n{API_SECRET}\n")
    environment = cli("remove", "binance", VENUES="binance", TRADING_MODE="testnet",
                      BINANCE_MODE="testnet", BINANCE_API_KEY=API_KEY,
                      BINANCE_API_SECRET=API_SECRET)  # fmt: skip
    unknown = cli("test", "nothing_here")

    assert (no_key.returncode, environment.returncode, unknown.returncode) == (2, 2, 2)
    assert no_key.stderr.startswith(
        "signalgate: SECRETS_KEY is not set, so keys cannot be stored encrypted: set it to a key"
        " made by `signalgate connections genkey`"
    )
    assert environment.stderr == (
        "signalgate: binance is configured by environment (VENUES): it cannot be removed here;"
        " change its BINANCE_... settings instead.\n"
    )
    assert unknown.stderr == (
        "signalgate: no connection is named or numbered 'nothing_here':"
        " `signalgate connections list` lists them.\n"
    )
    said = "\n".join(cli.said)
    assert API_KEY not in said
    assert API_SECRET not in said
