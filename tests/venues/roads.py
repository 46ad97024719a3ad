"""The venues on the road (tests/integration/test_venue_roads.py): one `Road` per venue
signalgate proves, each with its local fake (tests/venues/<venue>.py)."""

from __future__ import annotations

from tests.venues import bingx
from tests.venues.core import D
from tests.venues.road import Road

ROADS: list[Road] = [
    Road("bingx", bingx.FakeBingx, "BTC/USDT:USDT", "BTC-USDT", D("0.01"), *bingx.KEYS),
]
