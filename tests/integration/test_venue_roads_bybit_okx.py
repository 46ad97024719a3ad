"""The venue road tests (tests/venues/road_scenarios.py) on Bybit and OKX, spot and perpetuals."""

from __future__ import annotations

import pytest

from tests.venues.road_scenarios import *  # noqa: F403 - the scenarios, collected here
from tests.venues.road_scenarios import roads

pytestmark = pytest.mark.anyio
ROAD_IDS = ("bybit", "bybit-linear", "okx-spot", "okx-swap")
road = roads(*ROAD_IDS)
