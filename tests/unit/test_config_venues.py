from __future__ import annotations

from decimal import Decimal

import pytest

from app.config.settings import ConfigError, TradingMode, load_settings

KEYS = {"BINANCE_API_KEY": "k-123", "BINANCE_API_SECRET": "s-456-very-secret"}


def test_the_default_is_one_paper_venue_on_a_synthetic_feed() -> None:
    settings = load_settings({})
    [venue] = settings.venues
    assert (venue.name, venue.exchange, venue.mode) == ("paper", "paper", TradingMode.PAPER)
    assert venue.balances == {"USDT": Decimal(50_000)}
    assert venue.fee == Decimal("0.001")
    assert settings.market_data.source == "synthetic"
    assert settings.market_data.symbols == ("BTC/USDT", "ETH/USDT")


def test_several_paper_venues_with_their_own_fees_prices_and_balances() -> None:
    settings = load_settings(
        {
            "VENUES": "paper,paper_cheap",
            "PAPER_CHEAP_FEE": "0.0005",
            "PAPER_CHEAP_PRICE_OFFSET_BPS": "-3",
            "PAPER_CHEAP_BALANCES": "usdt=1000,BTC=0.5",
        }
    )
    cheap = settings.venues[1]
    assert (cheap.fee, cheap.price_offset_bps) == (Decimal("0.0005"), Decimal(-3))
    assert cheap.balances == {"USDT": Decimal(1000), "BTC": Decimal("0.5")}


def test_a_testnet_ccxt_venue() -> None:
    settings = load_settings(
        {"TRADING_MODE": "testnet", "VENUES": "paper,binance", "BINANCE_MODE": "testnet", **KEYS}
    )
    binance = settings.venues[1]
    assert (binance.exchange, binance.mode, binance.api_key) == ("binance", "testnet", "k-123")
    assert (binance.streams, binance.stream_url, binance.request_budget) == (None, None, None)
    tuned = load_settings(
        {
            "TRADING_MODE": "testnet",
            "VENUES": "binance",
            **KEYS,
            "BINANCE_MODE": "testnet",
            "BINANCE_STREAMS": "off",
            "BINANCE_STREAM_URL": "wss://proxy",
            "BINANCE_REQUEST_BUDGET": "0",
        }
    )
    assert (tuned.venues[0].streams, tuned.venues[0].stream_url) == (False, "wss://proxy")
    assert tuned.venues[0].request_budget == 0  # fmt: skip
    assert "s-456" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VENUES": "binance", **KEYS}, "BINANCE_MODE is not set: use testnet or live"),
        (
            {"VENUES": "binance", "BINANCE_MODE": "paper", **KEYS},
            "BINANCE_MODE='paper' is not valid",
        ),
        (
            {"VENUES": "binance", "BINANCE_MODE": "testnet", **KEYS},
            "BINANCE_MODE=testnet needs TRADING_MODE=testnet or live",
        ),
        (
            {"TRADING_MODE": "testnet", "VENUES": "binance", "BINANCE_MODE": "live", **KEYS},
            "BINANCE_MODE=live needs TRADING_MODE=live",
        ),
        (
            {"TRADING_MODE": "testnet", "VENUES": "binance", "BINANCE_MODE": "testnet"},
            "BINANCE_API_KEY and BINANCE_API_SECRET are needed",
        ),
        (
            {
                "TRADING_MODE": "testnet",
                "VENUES": "binance",
                "BINANCE_MODE": "testnet",
                "BINANCE_UNPROVEN": "yes",
                **KEYS,
            },
            "BINANCE_UNPROVEN='yes' is not valid: use accept or leave it unset.",
        ),
        (
            {
                "TRADING_MODE": "testnet",
                "VENUES": "binance",
                "BINANCE_MODE": "testnet",
                "BINANCE_LEVERAGE": "0.5",
                **KEYS,
            },
            "BINANCE_LEVERAGE='0.5' is not valid: use a number from 1 to 125, like 3.",
        ),
        (
            {
                "TRADING_MODE": "testnet",
                "VENUES": "binance",
                "BINANCE_MODE": "testnet",
                "BINANCE_STREAMS": "yes",
                **KEYS,
            },
            "BINANCE_STREAMS='yes' is not valid: use on or off.",
        ),
        (
            {
                "TRADING_MODE": "testnet",
                "VENUES": "binance",
                "BINANCE_MODE": "testnet",
                "BINANCE_REQUEST_BUDGET": "-5",
                **KEYS,
            },
            "BINANCE_REQUEST_BUDGET='-5' is not valid: use requests a minute",
        ),
        ({"PAPER_MODE": "live"}, "a paper venue trades on paper only"),
        ({"PAPER_FEE": "0.5"}, "PAPER_FEE='0.5' is not valid: use a fraction from 0 to 0.1"),
        ({"PAPER_BALANCES": "USDT"}, "PAPER_BALANCES='USDT' is not valid"),
        ({"PAPER_PRICE_OFFSET_BPS": "nan"}, "PAPER_PRICE_OFFSET_BPS='nan' is not valid"),
        ({"VENUES": "pa per!"}, "use names of letters, digits and _"),
        ({"VENUES": " , "}, "VENUES is empty"),
        ({"MARKET_DATA": "moon"}, "MARKET_DATA='moon' is not valid"),
        ({"SYMBOLS": "BTCUSDT"}, "use ccxt symbols like BTC/USDT"),
        ({"MARKET_DATA_SEED": "x"}, "MARKET_DATA_SEED='x' is not valid"),
    ],
)
def test_venue_mistakes_are_refused_with_what_to_do(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    assert message in str(caught.value)
    assert "s-456" not in str(caught.value)


def test_market_data_sources() -> None:
    replay = load_settings({"MARKET_DATA": "replay:data/btc.csv", "SYMBOLS": "btc/usdt"})
    assert (replay.market_data.source, replay.market_data.path) == ("replay", "data/btc.csv")
    assert replay.market_data.symbols == ("BTC/USDT",)
    live = load_settings({"MARKET_DATA": "ccxt:Binance", "MARKET_DATA_SEED": "7"})
    assert (live.market_data.exchange, live.market_data.seed) == ("binance", 7)


def test_a_swap_venues_leverage_and_an_accepted_unproven_profile() -> None:
    settings = load_settings(
        {"TRADING_MODE": "testnet", "VENUES": "perps", "PERPS_EXCHANGE": "binanceusdm",
         "PERPS_MODE": "testnet", "PERPS_API_KEY": "k", "PERPS_API_SECRET": "s",
         "PERPS_LEVERAGE": "3", "PERPS_UNPROVEN": "accept"}
    )  # fmt: skip
    (perps,) = settings.venues
    assert (perps.leverage, perps.unproven) == (Decimal(3), True)
    (binance,) = load_settings({"TRADING_MODE": "testnet", "VENUES": "binance",
                                "BINANCE_MODE": "testnet", **KEYS}).venues  # fmt: skip
    assert (binance.leverage, binance.unproven) == (Decimal(1), False)


@pytest.mark.parametrize(
    "env",
    [
        {"VENUES": "orangex"},
        {"TRADING_MODE": "live", "WEBHOOK_SECRET": "w" * 32, "VENUES": "paper,ox",
         "OX_EXCHANGE": "OrangeX", "OX_MODE": "live", "OX_API_KEY": "k",
         "OX_API_SECRET": "s-456-very-secret", "OX_UNPROVEN": "accept"},
    ],
)  # fmt: skip
def test_orangex_is_refused_at_start_with_a_sentence_saying_why(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert "_EXCHANGE=orangex is refused: OrangeX's API documentation could not be verified" in (
        message
    )
    assert "s-456" not in message
