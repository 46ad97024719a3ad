"""The whole road on a paper venue: an HTTP alert, the forwarder, a real RQ worker process, the
paper venue hosted over Redis, the bracket monitor -- and a worker killed mid-job."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis
import redis.asyncio
from litestar.testing import AsyncTestClient

from app.adapters.paper.exchange import PaperExchange
from app.adapters.paper.remote import PaperHost
from app.adapters.paper.store import SqlPaperStore
from app.adapters.redis.locks import RedisKeyLocks
from app.adapters.sql.db import make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.bootstrap.venues import paper_market
from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.domain.market import OrderBook
from app.domain.orders import Leg, OrderRequest, OrderStatus, Side
from app.entrypoints.web.app import create_app
from app.services.brackets.driver import BracketDriver
from app.services.brackets.monitor import BracketMonitor
from tests.integration.helpers import kill_workers
from tests.paper_helpers import book

pytestmark = pytest.mark.anyio
TOKEN = "pipeline-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ALERT = {
    "symbol": "BINANCE:BTCUSDT",
    "action": "buy",
    "qty": "0.01",
    "take_profit": {"price": "66000"},
    "stop_loss": {"price": "64000"},
}


class GatedPaperExchange(PaperExchange):
    """A paper exchange that holds entry orders at a gate, so a test can act mid-job."""

    gate: asyncio.Event | None = None
    reached: asyncio.Event | None = None

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        if self.gate is not None and self.reached is not None and "en0" in request.client_order_id:
            self.reached.set()
            await self.gate.wait()
        return await super().create_order(request)


@dataclass
class Deployment:
    settings: Settings
    env: dict[str, str]
    books: dict[str, OrderBook]
    exchange: GatedPaperExchange
    store: SqlExecutionStore
    redis: redis.Redis
    workers: list[asyncio.subprocess.Process] = field(default_factory=list)

    def monitor(self) -> BracketMonitor:
        clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
        return BracketMonitor(
            store=self.store,
            venues={"paper": self.exchange},
            driver=BracketDriver(self.store, clock),
            locks=RedisKeyLocks(self.redis),
        )

    async def queued(self, count: int) -> None:
        """Wait until the forwarder has put `count` jobs on the RQ queue."""
        for _ in range(500):
            if self.redis.llen(f"rq:queue:{self.settings.queue_name}") >= count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the forwarder did not enqueue the job")

    async def worker(self, *args: str) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.entrypoints.cli",
            "worker",
            *args,
            env=self.env,
            start_new_session=True,
        )
        self.workers.append(process)
        return process

    async def stop_workers(self) -> None:
        await kill_workers(self.workers)


@pytest.fixture(params=["sqlite_url", "postgres_url"])
async def deployment(redis_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Deployment]:
    database_url = request.getfixturevalue(request.param)  # either database, migrated
    settings = Settings(redis_url=redis_url, database_url=database_url, api_token=TOKEN)
    env = {**os.environ, "REDIS_URL": redis_url, "DATABASE_URL": database_url, "API_TOKEN": TOKEN}
    engine = make_engine(database_url)
    books = {"BTC/USDT": book("64990x1", "65000x1")}
    exchange = GatedPaperExchange.open(
        "paper",
        [paper_market("BTC/USDT", Decimal("0.001"))],
        lambda symbol: books[symbol],
        lambda: datetime.now(UTC),
        SqlPaperStore(engine),
    )
    assert isinstance(exchange, GatedPaperExchange)
    client = redis.asyncio.Redis.from_url(redis_url)
    stop = asyncio.Event()
    host = asyncio.create_task(PaperHost(client, {"paper": exchange}).serve(stop))
    sync = redis.Redis.from_url(redis_url)
    deployment = Deployment(settings, env, books, exchange, SqlExecutionStore(engine), sync)
    yield deployment
    await deployment.stop_workers()
    if exchange.gate is not None:  # a test that failed at the gate: let the host finish
        exchange.gate.set()
    stop.set()
    await asyncio.wait_for(host, 10)
    await client.aclose()
    sync.close()
    engine.dispose()


async def test_an_alert_becomes_a_bracket_and_a_take_profit_cancels_the_stop(
    deployment: Deployment,
) -> None:
    app = create_app(build_services(deployment.settings))
    async with AsyncTestClient(app) as http:
        answer = await http.post("/webhook", content=json.dumps(ALERT))
        assert answer.status_code == 202
        signal_id = answer.json()["signal_id"]
        await deployment.queued(1)
        worker = await deployment.worker("--burst")
        assert await asyncio.wait_for(worker.wait(), 60) == 0

        shown = (await http.get(f"/signals/{signal_id}", headers=AUTH)).json()
        assert shown["status"] == "executed"
        steps = [step["status"] for step in shown["history"]]
        assert steps[:6] == ["queued", "sizing", "route", "decision", "order", "order"]
        decision = next(step for step in shown["history"] if step["status"] == "decision")
        assert all(check["passed"] for check in decision["data"]["checks"])
        orders = {o["leg"]: o for o in shown["orders"]}
        assert orders["entry"]["state"] == "filled"
        assert Decimal(orders["entry"]["filled"]) == Decimal("0.01")
        assert orders["sl"]["state"] == "accepted"
        assert Decimal(orders["sl"]["trigger_price"]) == 64000
        resting = await deployment.exchange.open_orders("BTC/USDT")
        assert [(o.side, o.trigger_price) for o in resting] == [(Side.SELL, Decimal(64000))]

        (position,) = (await http.get("/positions", headers=AUTH)).json()
        assert (position["side"], Decimal(position["amount"])) == ("long", Decimal("0.01"))

        deployment.books["BTC/USDT"] = book("66010x1", "66020x1")  # the target is reached
        assert await deployment.monitor().run_once() == 1

        listed = (await http.get("/orders", params={"symbol": "BTC/USDT"}, headers=AUTH)).json()
        states = {o["leg"]: o["state"] for o in listed["orders"]}
        assert states == {"entry": "filled", "sl": "cancelled", "tp": "filled"}
        assert await deployment.exchange.open_orders("BTC/USDT") == []
        assert (await http.get("/positions", headers=AUTH)).json() == []
        bracket = deployment.store.bracket(signal_id)
        assert bracket is not None
        assert bracket.state == "closed"
        assert bracket.realized_pnl > 0


async def test_a_finished_job_and_its_result_are_kept_ten_minutes_not_a_day(
    deployment: Deployment,
) -> None:
    app = create_app(build_services(deployment.settings))
    async with AsyncTestClient(app) as http:
        signal_id = (await http.post("/webhook", content=json.dumps(ALERT))).json()["signal_id"]
        await deployment.queued(1)
        worker = await deployment.worker("--burst")
        assert await asyncio.wait_for(worker.wait(), 60) == 0

    job = f"signal-{signal_id}"
    assert deployment.redis.hget(f"rq:job:{job}", "status") == b"finished"
    for key in (f"rq:job:{job}", f"rq:results:{job}"):
        assert 0 < deployment.redis.ttl(key) <= 600, key


async def test_a_worker_killed_mid_job_never_places_the_entry_twice(
    deployment: Deployment,
) -> None:
    exchange = deployment.exchange
    exchange.gate, exchange.reached = asyncio.Event(), asyncio.Event()
    app = create_app(build_services(deployment.settings))
    async with AsyncTestClient(app) as http:
        signal_id = (await http.post("/webhook", content=json.dumps(ALERT))).json()["signal_id"]
        await deployment.queued(1)
        worker = await deployment.worker()
        await asyncio.wait_for(exchange.reached.wait(), 60)  # the entry request is on the venue
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its scheduler, as a dyno dies
        await worker.wait()
        exchange.gate.set()  # the venue executes the request the dead worker sent
        await asyncio.sleep(0.2)

        # the killed job's lock expires (30 s in production; shortened here), then RQ re-runs it
        for key in deployment.redis.scan_iter("signalgate:lock:*"):
            deployment.redis.pexpire(key, 1)
        rerun = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            f"from workers.jobs import execute_signal; print(execute_signal({signal_id!r}))",
            env=deployment.env,
            stdout=asyncio.subprocess.PIPE,
        )
        output, _ = await asyncio.wait_for(rerun.communicate(), 60)
        assert output.decode().strip() == "executed"

        entries = [
            o for o in exchange.venue.open_orders() + _closed(exchange) if o.side is Side.BUY
        ]
        assert len(entries) == 1  # exactly one entry on the venue
        shown = (await http.get(f"/signals/{signal_id}", headers=AUTH)).json()
        assert "resumed" in [step["status"] for step in shown["history"]]
        legs = sorted(o["leg"] for o in shown["orders"])
        assert legs == ["entry", "sl"]
        bracket = deployment.store.bracket(signal_id)
        assert bracket is not None
        assert bracket.order(bracket.orders[0].client_order_id).leg is Leg.ENTRY


def _closed(exchange: PaperExchange) -> list[OrderStatus]:
    """The venue's filled orders (a market entry fills at once), from its fills."""
    since = datetime(2000, 1, 1, tzinfo=UTC)
    ids = {fill.order_id for fill in exchange.venue.fills_since("BTC/USDT", since)}
    return [exchange.venue.order(order_id) for order_id in sorted(ids)]
