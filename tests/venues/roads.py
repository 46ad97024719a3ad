"""The venues on the road (tests/integration/test_venue_roads.py): one `Road` per venue
signalgate proves, each with its local fake (tests/venues/<venue>.py)."""

from __future__ import annotations

from decimal import Decimal

from tests.venues.binance import API_KEY, API_SECRET, spot
from tests.venues.binance_usdm import usdm
from tests.venues.road import Road

D = Decimal
QUICK = {"recvWindow": 300}  # a lost create's expiry, waited out before it is sent again

ROADS: list[Road] = [
    Road("binance", spot, "BTC/USDT", "BTCUSDT", D("0.01"), API_KEY, API_SECRET, options=QUICK),
    Road("binanceusdm", usdm, "BTC/USDT:USDT", "BTCUSDT", D("0.01"), API_KEY, API_SECRET,
         options=QUICK),  # fmt: skip
]
