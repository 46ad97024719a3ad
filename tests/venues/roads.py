"""The venues on the road (tests/integration/test_venue_roads.py): one `Road` per venue
signalgate proves, each with its local fake (tests/venues/<venue>.py)."""

from __future__ import annotations

from tests.venues import pionex
from tests.venues.road import Road

ROADS: list[Road] = [
    pionex.ROAD,  # a native adapter: ccxt has no Pionex
]
