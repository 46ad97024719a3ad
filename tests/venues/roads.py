"""The venues on the road (tests/venues/road_scenarios.py): one `Road` per venue
signalgate proves, each with its local fake (tests/venues/<venue>.py)."""

from __future__ import annotations

from decimal import Decimal

from tests.venues import binance, binance_usdm, bingx, bybit, cryptocom, kraken, okx, pionex
from tests.venues.road import Road

D = Decimal
BINANCE = (binance.API_KEY, binance.API_SECRET)
# a short recvWindow: a lost create is re-sent once it has expired, and the tests wait for it
BYBIT = {"recvWindow": 1000}
_OKX = {"api_key": okx.API_KEY, "secret": okx.SECRET, "password": okx.PASSPHRASE}

ROADS: list[Road] = [
    Road("binance", binance.spot, "BTC/USDT", "BTCUSDT", D("0.01"), *BINANCE),
    Road("binanceusdm", binance_usdm.usdm, "BTC/USDT:USDT", "BTCUSDT", D("0.01"), *BINANCE),
    Road("bingx", bingx.FakeBingx, "BTC/USDT:USDT", "BTC-USDT", Decimal("0.01"), *bingx.KEYS),
    Road(
        "bybit",
        bybit.bybit,
        "BTC/USDT",
        "spot:BTCUSDT",
        Decimal("0.01"),
        bybit.API_KEY,
        bybit.SECRET,
        options=BYBIT,
    ),
    Road(
        "bybit",
        bybit.bybit,
        "BTC/USDT:USDT",
        "linear:BTCUSDT",
        Decimal("0.01"),
        bybit.API_KEY,
        bybit.SECRET,
        options=BYBIT,
        id="bybit-linear",
    ),
    # a 2 s nonce window, on the venue and in what the adapter knows of it (the venue's is 60 s)
    Road(
        "cryptocom",
        cryptocom.short_window,
        "BTC/USDT",
        "BTC_USDT",
        Decimal("0.01"),
        cryptocom.API_KEY,
        cryptocom.SECRET,
        options={"nonceWindow": 2000},
    ),
    # ccxt has no Kraken sandbox; a 2.5 s create deadline (Kraken takes 2 to 60 s); ccxt's own
    # throttle would wait 3 s before each private read
    Road(
        "kraken",
        kraken.fake,
        "BTC/USDT",
        "XBTUSDT",
        Decimal("0.001"),
        kraken.API_KEY,
        kraken.SECRET,
        mode="live",
        rate_limit_ms=1,
        # the deadline must be 2 to 60 s ahead when Kraken reads it: 2 s of slack for a stall
        options={"recvWindow": 4000},
    ),
    Road("okx", okx.spot_and_swaps, "BTC/USDT", "BTC-USDT", Decimal("0.01"), id="okx-spot", **_OKX),
    Road(
        "okx",
        okx.spot_and_swaps,
        "BTC/USDT:USDT",
        "BTC-USDT-SWAP",
        Decimal("0.01"),
        id="okx-swap",
        **_OKX,
    ),
    pionex.ROAD,  # a native adapter: ccxt has no Pionex
]
