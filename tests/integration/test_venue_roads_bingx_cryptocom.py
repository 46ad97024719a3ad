"""The venue road tests (tests/venues/road_scenarios.py) on BingX and Crypto.com."""

from __future__ import annotations

import pytest

from tests.venues.road_scenarios import *  # noqa: F403 - the scenarios, collected here
from tests.venues.road_scenarios import roads

pytestmark = pytest.mark.anyio
ROAD_IDS = ("bingx", "cryptocom")
road = roads(*ROAD_IDS)
