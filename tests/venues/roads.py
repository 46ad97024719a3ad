"""The venues on the road (tests/integration/test_venue_roads.py): one `Road` per venue
signalgate proves, each with its local fake (tests/venues/<venue>.py)."""

from __future__ import annotations

from decimal import Decimal

from tests.venues import binance, binance_usdm, cryptocom
from tests.venues.road import Road

D = Decimal
BINANCE = (binance.API_KEY, binance.API_SECRET)

ROADS: list[Road] = [
    Road("binance", binance.spot, "BTC/USDT", "BTCUSDT", D("0.01"), *BINANCE),
    Road("binanceusdm", binance_usdm.usdm, "BTC/USDT:USDT", "BTCUSDT", D("0.01"), *BINANCE),
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
]
