"""The venues on the road (tests/integration/test_venue_roads.py): one `Road` per venue
signalgate proves, each with its local fake (tests/venues/<venue>.py)."""

from __future__ import annotations

from decimal import Decimal

from tests.venues import bingx, cryptocom, pionex
from tests.venues.road import Road

ROADS: list[Road] = [
    Road("bingx", bingx.FakeBingx, "BTC/USDT:USDT", "BTC-USDT", Decimal("0.01"), *bingx.KEYS),
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
    pionex.ROAD,  # a native adapter: ccxt has no Pionex
]
