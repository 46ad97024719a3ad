"""The strategy engine end to end: a synthetic feed published over Redis, strategies, the intake,
the forwarder, a real worker process and the paper venue -- the road a webhook alert takes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis.asyncio
from litestar.testing import AsyncTestClient

from app.adapters.market_data import SyntheticFeed
from app.adapters.redis.ticks import TICKS_CHANNEL, RedisTickFeed, TickPublisher
from app.bootstrap.web import build_services
from app.domain.strategy import Proposal
from app.domain.synthetic import SymbolSpec, SyntheticMarket
from app.entrypoints.web.app import create_app
from app.services.strategy.engine import StrategyEngine, submit_through
from tests.integration.test_execution_paper import AUTH, Deployment, deployment  # noqa: F401

pytestmark = pytest.mark.anyio


class OnThe:
    """Proposes one buy on a symbol's n-th price, with the given confidence."""

    def __init__(self, name: str, n: int, confidence: float) -> None:
        self.name, self.n, self.confidence = name, n, confidence
        self.seen: dict[str, int] = {}

    def on_price(self, symbol: str, price: float, at: datetime) -> Proposal | None:
        self.seen[symbol] = self.seen.get(symbol, 0) + 1
        if self.seen[symbol] != self.n:
            return None
        return Proposal("buy", self.confidence, price * 1.02, price * 0.98, f"price {self.n}")

    def reset(self, symbol: str) -> None:
        self.seen.pop(symbol, None)


async def test_strategy_signals_take_the_webhook_road_from_a_published_feed(
    deployment: Deployment,  # noqa: F811 - the fixture of that name
) -> None:
    settings = deployment.settings
    services = build_services(settings)
    await services.startup(run_forwarder=False)
    assert services.intake is not None
    engine = StrategyEngine(
        {"BTC/USDT": [OnThe("eager", 5, 0.9), OnThe("timid", 6, 0.3)]},
        submit_through(services.intake),
    )
    client = redis.asyncio.Redis.from_url(settings.redis_url)
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(RedisTickFeed(client), stop))
    for _ in range(200):  # until the engine listens
        if (await client.pubsub_numsub(TICKS_CHANNEL))[0][1]:
            break
        await asyncio.sleep(0.01)
    start = datetime.now(UTC) - timedelta(seconds=20)  # ticks of the last seconds, not stale
    spec = SymbolSpec("BTC/USDT", Decimal(65000), volatility=0.00001)
    feed = SyntheticFeed(SyntheticMarket([spec], seed=7, start=start), count=10)
    publisher = TickPublisher(client)
    async for tick in feed.ticks():
        await publisher.publish(tick)
    for _ in range(200):
        if sum(engine.submitted.values()) == 2:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert engine.submitted == {"queued": 1, "filtered": 1}

    app = create_app(services)  # its forwarder moves the queued signal to SQL and RQ
    async with AsyncTestClient(app) as http:
        await deployment.queued(1)
        worker = await deployment.worker("--burst")
        assert await asyncio.wait_for(worker.wait(), 60) == 0
        listed = (await http.get("/signals", params={"symbol": "BTC/USDT"}, headers=AUTH)).json()
        by_strategy = {s["strategy"]: s for s in listed["signals"]}
        assert by_strategy["timid"]["status"] == "filtered"  # below CONFIDENCE_THRESHOLD 0.6
        eager = (await http.get(f"/signals/{by_strategy['eager']['id']}", headers=AUTH)).json()
    assert eager["status"] == "executed"
    assert eager["signal"]["source"] == "strategy:eager"
    steps = [step["status"] for step in eager["history"]]
    assert steps[:4] == ["queued", "sizing", "route", "decision"]
    decision = next(step for step in eager["history"] if step["status"] == "decision")
    assert decision["data"]["checks"]
    assert all(check["passed"] for check in decision["data"]["checks"])
    orders = {o["leg"]: o["state"] for o in eager["orders"]}
    assert orders == {"entry": "filled", "sl": "accepted"}
    await client.aclose()
