"""The venue profile table holds facts about ccxt, checked against the installed ccxt."""

from __future__ import annotations

import inspect
import tomllib
from importlib.metadata import version
from pathlib import Path

import ccxt.async_support as ccxt_async
import pytest

from app.adapters.ccxt.profiles import (
    PROVEN_CCXT,
    VENUES,
    FetchOrder,
    ScanOrders,
    VenueProfile,
    overridden_urls,
)
from tests.venues.roads import ROADS

ROWS = sorted(VENUES.items())


def source(exchange_id: str) -> str:
    return inspect.getsource(inspect.getmodule(getattr(ccxt_async, exchange_id)))


project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())


def test_the_seed_venues_have_profiles_and_bitfinex_is_left_out() -> None:
    seeds = {"binance", "binanceusdm", "coinbase", "kraken", "kucoin", "gate", "bingx",
             "bitget", "bybit", "okx", "cryptocom"}  # fmt: skip
    assert set(VENUES) == seeds
    assert "bitfinex" not in VENUES  # ccxt sends its client order id as an integer


@pytest.mark.parametrize(("exchange_id", "profile"), ROWS)
def test_every_profile_names_a_ccxt_exchange_and_its_client_id_param(
    exchange_id: str, profile: VenueProfile
) -> None:
    assert exchange_id in ccxt_async.exchanges
    text = source(exchange_id)
    if exchange_id == "binanceusdm":  # a thin subclass: the order code is binance's
        text = source("binance")
    assert f"'{profile.client_order_id_param}'" in text


@pytest.mark.parametrize(("exchange_id", "profile"), ROWS)
def test_every_lookup_is_one_ccxt_offers(exchange_id: str, profile: VenueProfile) -> None:
    client = getattr(ccxt_async, exchange_id)()
    match profile.lookup:
        case FetchOrder(param=param):
            assert param
            assert client.has["fetchOrder"]
        case ScanOrders(recent=recent):
            assert client.has["fetchOpenOrders"]
            assert hasattr(client, recent)


@pytest.mark.parametrize(("exchange_id", "profile"), ROWS)
def test_capabilities_agree_with_what_ccxt_says_the_venue_has(
    exchange_id: str, profile: VenueProfile
) -> None:
    has = getattr(ccxt_async, exchange_id)().has
    if profile.capabilities.attached_tp_sl:
        assert has["createOrderWithTakeProfitAndStopLoss"]
    if profile.swaps:
        assert has["swap"]
        assert has["fetchPositions"]
        assert has["setLeverage"]
    if profile.expiry is not None:  # ccxt's option, or the profile's for a window ccxt lacks
        options = {**getattr(ccxt_async, exchange_id)().options, **profile.options}
        assert profile.expiry.option in options
    if profile.expiry is not None and profile.expiry.deadline_param is not None:
        # the adapter sends the deadline: ccxt must pass it through untouched
        assert f"'{profile.expiry.deadline_param}'" not in source(exchange_id)


def test_a_base_url_override_keeps_each_path_under_the_new_host() -> None:
    api = {"spot": "https://api.{hostname}/v5", "nested": {"rest": "https://www.okx.com"}, "n": 1}
    assert overridden_urls(api, "http://127.0.0.1:9000/", VENUES["bybit"]) == {
        "spot": "http://127.0.0.1:9000/v5",
        "nested": {"rest": "http://127.0.0.1:9000"},
        "n": 1,
    }
    binance = overridden_urls({}, "http://proxy", VENUES["binanceusdm"])
    assert isinstance(binance, dict)
    assert binance["fapiPrivateV3"] == "http://proxy/fapi/v3"


def test_the_installed_ccxt_is_the_one_the_profiles_and_fakes_prove() -> None:
    """What a venue receives changes with ccxt's version: another one must be proven first."""
    pinned = [d for d in project["project"]["dependencies"] if d.split("=")[0].strip() == "ccxt"]

    assert pinned == [f"ccxt=={PROVEN_CCXT}"], pinned
    assert version("ccxt") == PROVEN_CCXT, (
        f"ccxt {version('ccxt')} is installed but the venue profiles and fakes prove"
        f" {PROVEN_CCXT}: run `make setup` again, or prove the new version and move the pin"
    )


def test_a_profile_is_proven_exactly_when_a_road_test_trades_it() -> None:
    on_the_road = {road.name for road in ROADS if road.adapter is None}
    assert {name for name, profile in VENUES.items() if profile.proven} == on_the_road
