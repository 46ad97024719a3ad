"""Leverage on a perpetual swap, through unmodified ccxt `binanceusdm` against the local fake
(tests/venues/binance_usdm.py):
the alert's `leverage` (else `<VENUE>_LEVERAGE`) is set on the venue before the entry, once per
symbol and value, and the router and the risk gate check the margin at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest

from app.domain.execution_policy import EntryPolicy, ExecutionPolicy
from app.domain.signals import Action, Signal, SignalStatus
from tests.venues.binance_usdm import BinanceUsdm
from tests.venues.http import Served, serve
from tests.venues.road import Deployment, deployed
from tests.venues.roads import ROADS

pytestmark = pytest.mark.anyio
D = Decimal
BTC = "BTC/USDT:USDT"
LEVERAGE = "/fapi/v1/leverage"


ROAD = next(road for road in ROADS if road.name == "binanceusdm")


@pytest.fixture
def fake() -> Iterator[Served[BinanceUsdm]]:
    with serve(ROAD.fake()) as running:
        yield running


def venue(fake: Served[BinanceUsdm]) -> BinanceUsdm:
    return fake.venue


def buy(amount: str, **terms: Any) -> Signal:
    return Signal(symbol=BTC, action=Action.BUY, source="tradingview:native",
                  quantity=D(amount), **terms)  # fmt: skip


def margin_check(deployment: Deployment, signal_id: str) -> str:
    view = deployment.signals.get(signal_id)
    assert view is not None
    for step in view.history:
        for check in (step.data or {}).get("checks") or []:
            if check["name"] == "free_balance":
                return str(check["detail"])
    raise AssertionError("no free_balance check on the lineage")


@pytest.fixture
async def usdm(
    fake: Served[BinanceUsdm], sqlite_url: str, redis_url: str
) -> AsyncIterator[Deployment]:
    add = ExecutionPolicy(entry_policy=EntryPolicy.ADD)  # each alert adds to the position
    async with deployed(ROAD, fake, sqlite_url, redis_url, policy=add,
                        leverages={"binanceusdm": D(2)}) as running:  # fmt: skip
        yield running


async def test_the_alerts_leverage_is_set_on_the_venue_once_per_symbol_and_value(
    usdm: Deployment, fake: Served[BinanceUsdm]
) -> None:
    first = await usdm.send(buy("0.01", leverage=D(5)))

    assert usdm.status(first) is SignalStatus.EXECUTED
    assert venue(fake).leverage["BTCUSDT"] == 5
    assert "the margin at 5x is" in margin_check(usdm, first)
    await usdm.send(buy("0.01", leverage=D(5)))
    assert venue(fake).requests.count(("POST", LEVERAGE)) == 1  # remembered
    await usdm.send(buy("0.01", leverage=D(3)))
    assert venue(fake).requests.count(("POST", LEVERAGE)) == 2
    assert venue(fake).leverage["BTCUSDT"] == 3


async def test_without_one_in_the_alert_the_venues_leverage_setting_applies(
    usdm: Deployment, fake: Served[BinanceUsdm]
) -> None:
    signal_id = await usdm.send(buy("0.01"))

    assert usdm.status(signal_id) is SignalStatus.EXECUTED
    assert venue(fake).leverage["BTCUSDT"] == 2
    assert "the margin at 2x is" in margin_check(usdm, signal_id)


async def test_the_margin_is_checked_at_the_entrys_leverage(
    usdm: Deployment, fake: Served[BinanceUsdm]
) -> None:
    """0.01 BTC is about 500 USDT of notional against a 200 USDT wallet: refused at 2x, taken
    at 5x."""
    venue(fake).balances["USDT"] = [D(200), D(0)]
    refused = await usdm.send(buy("0.01"))
    taken = await usdm.send(buy("0.01", leverage=D(5)))

    assert usdm.status(refused) is SignalStatus.DENIED
    view = usdm.signals.get(refused)
    assert view is not None
    assert "of margin at 2x is needed with fees" in (view.reason or str(view.history))
    assert usdm.status(taken) is SignalStatus.EXECUTED
    assert venue(fake).positions["BTCUSDT"].amount == D("0.01")
