"""`signalgate venues check` and the same check at worker and monitor start, against the local
Binance fakes through unmodified ccxt: keys, permissions, clock, markets, balance and position
mode, one line per venue; an unsafe venue refuses the start, a silent one only warns."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from app.bootstrap.venue_check import check_at_start, check_venues
from app.bootstrap.venues import VenueSetupError
from app.config.settings import Settings, load_settings
from tests.fake_binance import API_KEY, API_SECRET, RunningFake, serve_fake_binance
from tests.venues.binance_usdm import usdm as usdm_account
from tests.venues.http import serve

pytestmark = pytest.mark.anyio


@pytest.fixture
def fake() -> Iterator[RunningFake]:
    with serve_fake_binance() as running:
        yield running


def env(url: str, name: str = "binance", exchange: str = "binance", **extra: str) -> dict[str, str]:
    prefix = name.upper()
    return {
        "TRADING_MODE": "testnet",
        "VENUES": f"paper,{name}",
        f"{prefix}_EXCHANGE": exchange,
        f"{prefix}_MODE": "testnet",
        f"{prefix}_API_KEY": API_KEY,
        f"{prefix}_API_SECRET": API_SECRET,
        f"{prefix}_API_URL": url,
        **extra,
    }


def settings(url: str, **extra: str) -> Settings:
    return load_settings(env(url, **extra))


async def test_a_sound_venue_reports_every_fact_on_one_line(fake: RunningFake) -> None:
    paper, binance = await check_venues(settings(fake.url))

    assert paper.line() == "paper: ok - paper: simulated, nothing to ask"
    assert binance.ok
    line = binance.line()
    assert line.startswith("binance: ok - 3 markets; balance read (USDT 10000, ETH 2, BTC 0.5);")
    assert "; clock skew " in line
    assert "; trading allowed; withdrawals disabled; " in line
    assert line.endswith(" ms")


async def test_a_key_that_may_withdraw_is_a_loud_warning(fake: RunningFake) -> None:
    fake.venue.restrictions["enableWithdrawals"] = True

    (report,) = await check_venues(settings(fake.url), ["binance"])

    assert report.ok
    assert "warning: the API key may WITHDRAW funds: make one without withdrawal permission" in (
        report.line()
    )


def test_a_key_without_trading_permission_refuses_the_start(fake: RunningFake) -> None:
    fake.venue.restrictions["enableSpotAndMarginTrading"] = False

    with pytest.raises(VenueSetupError) as refused:
        check_at_start(settings(fake.url), "worker")

    assert str(refused.value) == (
        "binance: the API key may not trade: enable trading on it. Fix it, or remove the venue"
        " from VENUES."
    )


async def test_a_wrong_secret_is_said_plainly(fake: RunningFake) -> None:
    wrong = env(fake.url, BINANCE_API_SECRET="not-the-secret")

    (report,) = await check_venues(load_settings(wrong), ["binance"])

    assert not report.ok
    assert "the API secret is refused: the venue finds the signature wrong (" in report.line()
    assert "not-the-secret" not in report.line()


def test_a_venue_that_does_not_answer_only_warns_at_start(caplog: pytest.LogCaptureFixture) -> None:
    check_at_start(settings("http://127.0.0.1:9"), "monitor")  # nothing listens on port 9

    (line,) = [r for r in caplog.records if "binance: unreachable" in r.getMessage()]
    assert line.levelname == "WARNING"


async def test_a_swap_account_in_two_way_position_mode_is_refused() -> None:
    with serve(usdm_account(hedge_mode=True)) as fake:
        perps = env(fake.url, "perps", "binanceusdm")

        (report,) = await check_venues(load_settings(perps), ["perps"])

    assert report.problems == [
        "the account is in two-way (hedge) position mode and signalgate trades one-way: switch"
        " it to one-way mode"
    ]


async def test_a_one_way_swap_account_says_so(fake: RunningFake) -> None:
    with serve(usdm_account()) as usdm:
        perps = env(usdm.url, "perps", "binanceusdm")

        (report,) = await check_venues(load_settings(perps), ["perps"])

    assert report.ok
    assert "one-way position mode" in report.line()


async def test_an_unknown_name_is_refused_with_the_configured_ones(fake: RunningFake) -> None:
    with pytest.raises(VenueSetupError, match=r"^kraken is not in VENUES \(binance, paper\)"):
        await check_venues(settings(fake.url), ["kraken"])


def test_the_command_prints_a_line_per_venue_and_fails_on_a_refused_one(
    fake: RunningFake,
) -> None:
    command = [sys.executable, "-m", "app.entrypoints.cli", "venues", "check"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BINANCE_", "VENUES"))}
    run = subprocess.run(command, env={**clean, **env(fake.url)}, capture_output=True,
                         text=True, timeout=60, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["paper", "binance"]
    assert lines[1].startswith("binance: ok - 3 markets;")

    fake.venue.restrictions["enableSpotAndMarginTrading"] = False
    run = subprocess.run([*command, "binance"], env={**clean, **env(fake.url)},
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert run.returncode == 1
    assert run.stdout.startswith("binance: REFUSED - the API key may not trade")
