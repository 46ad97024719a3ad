"""The venues on the road (tests/integration/test_venue_roads.py): one `Road` per venue
signalgate proves, each with its local fake (tests/venues/<venue>.py)."""

from __future__ import annotations

from decimal import Decimal

from tests.venues import binance, binance_usdm
from tests.venues.road import Road

D = Decimal
BINANCE = (binance.API_KEY, binance.API_SECRET)

ROADS: list[Road] = [
    Road("binance", binance.spot, "BTC/USDT", "BTCUSDT", D("0.01"), *BINANCE),
    Road("binanceusdm", binance_usdm.usdm, "BTC/USDT:USDT", "BTCUSDT", D("0.01"), *BINANCE),
]
