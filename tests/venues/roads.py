"""The venues on the road (tests/integration/test_venue_roads.py): one `Road` per venue
signalgate proves, each with its local fake (tests/venues/<venue>.py)."""

from __future__ import annotations

from decimal import Decimal

from tests.venues import bybit
from tests.venues.road import Road

# a short recvWindow: a lost create is re-sent once it has expired, and the tests wait for it
BYBIT = {"recvWindow": 1000}

ROADS: list[Road] = [
    Road("bybit", bybit.bybit, "BTC/USDT", "spot:BTCUSDT", Decimal("0.01"), bybit.API_KEY,
         bybit.SECRET, options=BYBIT),
    Road("bybit", bybit.bybit, "BTC/USDT:USDT", "linear:BTCUSDT", Decimal("0.01"),
         bybit.API_KEY, bybit.SECRET, options=BYBIT, id="bybit-linear"),
]  # fmt: skip
