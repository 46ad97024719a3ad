"""The venue road tests (tests/venues/road_scenarios.py) on Binance, Kraken and Pionex."""

from __future__ import annotations

import pytest

from tests.venues.road_scenarios import *  # noqa: F403 - the scenarios, collected here
from tests.venues.road_scenarios import roads
from tests.venues.roads import ROADS

pytestmark = pytest.mark.anyio
ROAD_IDS = ("binance", "binanceusdm", "kraken", "pionex")
road = roads(*ROAD_IDS)


def test_every_road_is_run_by_a_test_module() -> None:
    """A road added to ROADS but to none of the road test modules would prove nothing."""
    from tests.integration import (  # noqa: PLC0415
        test_venue_roads_bingx_cryptocom,
        test_venue_roads_bybit_okx,
    )

    modules = (test_venue_roads_bingx_cryptocom, test_venue_roads_bybit_okx)
    run = [*ROAD_IDS, *(road_id for module in modules for road_id in module.ROAD_IDS)]
    assert sorted(run) == sorted(road.id or road.name for road in ROADS)
