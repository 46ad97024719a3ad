"""Each process's view of its venues (circuit state, request errors by class) reaches the web
process through Redis: `/ready` shows every venue's circuit state and `/metrics` has
`signalgate_venue_up{venue}` and `signalgate_venue_request_errors_total{venue,class}`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from litestar.testing import TestClient

from app.adapters.ccxt.exchange import CcxtExchange
from app.adapters.redis import venue_health
from app.ports.errors import Retryable
from tests.fake_binance import API_KEY, API_SECRET, serve_fake_binance
from tests.integration.test_execution_ccxt import FAST
from tests.integration.test_web_ops import scrape
from tests.integration.test_webhook_http import make_client


@dataclass
class Seen:
    """A venue as a process holds it: what `publish` reads."""

    circuit_state: str = "closed"
    error_counts: dict[str, int] = field(default_factory=dict)


@pytest.fixture
def client(redis_url: str, sqlite_url: str) -> Iterator[TestClient[Any]]:
    with make_client(redis_url, sqlite_url) as test_client:
        yield test_client


@pytest.fixture
def blocking(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def test_a_venues_worst_state_and_summed_errors_over_the_live_processes(
    blocking: redis.Redis,
) -> None:
    venue_health.publish(blocking, "worker@a", {"binance": Seen("closed", {"Retryable": 2})})
    errors = {"Retryable": 1, "InvalidOrder": 1}
    venue_health.publish(blocking, "monitor@b", {"binance": Seen("open", errors)})
    venue_health.publish(blocking, "worker@dead", {"binance": Seen("half_open"), "okx": Seen()})
    later = time.time() + venue_health.FRESH_SECONDS / 2
    venue_health.publish(blocking, "worker@dead", {})  # nothing: its old fields stay
    blocking.hset(venue_health.KEY, "okx|worker@dead", b'{"at": 0, "state": "open"}')

    found = venue_health.read(blocking, later)

    assert set(found) == {"binance"}  # okx: only a stale field, deleted by the reader
    assert (found["binance"].state, found["binance"].up) == ("open", False)
    assert found["binance"].errors == {"Retryable": 3, "InvalidOrder": 1}
    assert not blocking.hexists(venue_health.KEY, "okx|worker@dead")


@pytest.mark.anyio
async def test_a_ccxt_venue_counts_its_request_errors_by_class() -> None:
    with serve_fake_binance() as fake:
        fake.venue.fail_next("GET", "/api/v3/depth", "503", count=3)
        async with CcxtExchange("binance", mode="testnet", api_key=API_KEY, secret=API_SECRET,
                                base_url=fake.url, retry=FAST) as binance:  # fmt: skip
            with pytest.raises(Retryable):
                await binance.order_book("BTC/USDT")
            await binance.order_book("BTC/USDT")

            assert binance.error_counts == {"Retryable": 3}


@pytest.mark.anyio
async def test_ready_and_metrics_show_each_venue(
    client: TestClient[Any], blocking: redis.Redis
) -> None:
    assert client.get("/ready").json()["venues"] == {"paper": "unknown"}  # no process yet
    venue_health.publish(blocking, "monitor@m", {"paper": Seen("open", {"Retryable": 4})})

    ready = client.get("/ready")

    assert ready.status_code == 200  # a venue's circuit shows, it does not decide readiness
    assert ready.json()["venues"] == {"paper": "open"}
    samples = scrape(client)
    assert samples["signalgate_venue_up"] == {(("venue", "paper"),): 0.0}
    assert samples["signalgate_venue_request_errors_total"] == {
        (("class", "Retryable"), ("venue", "paper")): 4.0
    }


def test_a_worker_writes_its_view_when_it_changes_or_is_due(blocking: redis.Redis) -> None:
    now = [1000.0]
    publisher = venue_health.ChangePublisher("worker@w", refresh_seconds=30, clock=lambda: now[0])
    paper = Seen()

    def written() -> bytes | None:
        return blocking.hget(venue_health.KEY, "paper|worker@w")  # type: ignore[return-value]

    assert publisher.publish(blocking, {"paper": paper})
    first = written()
    now[0] += 1
    assert not publisher.publish(blocking, {"paper": paper})  # the same view: no round trip
    assert written() == first
    paper.circuit_state = "open"
    assert publisher.publish(blocking, {"paper": paper})  # a change: at once
    assert b'"open"' in (written() or b"")
    now[0] += 29.5
    assert not publisher.publish(blocking, {"paper": paper})
    now[0] += 1
    assert publisher.publish(blocking, {"paper": paper})  # due: readers keep it fresh
    assert venue_health.read(blocking, now[0])["paper"].state == "open"
