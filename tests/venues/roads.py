"""The venues on the road (tests/integration/test_venue_roads.py): one `Road` per venue
signalgate proves, each with its local fake (tests/venues/<venue>.py)."""

from __future__ import annotations

from decimal import Decimal

from tests.venues import kraken
from tests.venues.road import Road

ROADS: list[Road] = [
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
        options={"recvWindow": 2500},
    ),
]
