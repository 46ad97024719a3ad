"""The venues on the road (tests/integration/test_venue_roads.py): one `Road` per venue
signalgate proves, each with its local fake (tests/venues/<venue>.py)."""

from __future__ import annotations

from decimal import Decimal

from tests.venues import okx
from tests.venues.road import Road

_OKX = {"api_key": okx.API_KEY, "secret": okx.SECRET, "password": okx.PASSPHRASE}

ROADS: list[Road] = [
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
]
