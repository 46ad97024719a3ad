"""rq-dashboard under /rq, `signalgate dashboard`, and /metrics, over the real Redis and SQLite."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import psutil
import pytest
import redis
import uvicorn
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue
from rq.serializers import JSONSerializer

from app.adapters.redis.server import free_port
from app.bootstrap.rq_worker import SignalWorker
from app.bootstrap.web import build_services
from app.config.settings import Settings
from app.config.venues import TradingMode
from app.entrypoints.web.app import create_app
from app.entrypoints.web.guards import COOKIE
from tests.integration.helpers import eventually
from tests.integration.test_webhook_http import SECRET, TOKEN, alert, make_client

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def finish_quickly() -> str:
    """A job for the worker (imported by name, like the service's own jobs)."""
    return "done"


def fail_loudly() -> None:
    raise RuntimeError("this job fails on purpose")


@pytest.fixture
def client(redis_url: str, sqlite_url: str) -> Iterator[TestClient[Any]]:
    with make_client(redis_url, sqlite_url) as test_client:
        yield test_client


def queue_of(redis_url: str) -> Queue:
    return Queue("signals", connection=redis.Redis.from_url(redis_url), serializer=JSONSerializer)


def queued_signal(client: TestClient[Any], redis_url: str) -> str:
    """Send one alert through the app and wait until the forwarder put its RQ job on the queue."""
    signal_id: str = client.post("/webhook", content=alert(id="ops-1")).json()["signal_id"]
    eventually(lambda: f"signal-{signal_id}" in queue_of(redis_url).job_ids)
    return signal_id


# --- /rq


def test_dashboard_without_the_token_is_refused_with_a_sentence(client):
    response = client.get("/rq/")
    assert response.status_code == 401
    assert "Authorization: Bearer <API_TOKEN>" in response.json()["reason"]
    wrong = client.get("/rq/", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert client.get("/rq/static/css/main.css").status_code == 401
    assert client.get("/rq/0/data/queues.json").status_code == 401


def test_dashboard_with_the_token_shows_the_signals_queue_and_its_job(client, redis_url):
    signal_id = queued_signal(client, redis_url)

    page = client.get("/rq/", headers=AUTH)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "RQ dashboard" in page.text
    # links carry the mount prefix, so a browser can follow them
    assert 'href="/rq/static/css/main.css"' in page.text

    asset = client.get("/rq/static/js/jquery-3.5.1.min.js", headers=AUTH)
    assert asset.status_code == 200
    assert "javascript" in asset.headers["content-type"]
    assert b"jQuery" in asset.content[:200]

    queues = client.get("/rq/0/data/queues.json", headers=AUTH).json()["queues"]
    assert [(q["name"], q["count"]) for q in queues] == [("signals", 1)]

    jobs = client.get("/rq/0/data/jobs/signals/queued/8/asc/1.json", headers=AUTH).json()["jobs"]
    assert [j["id"] for j in jobs] == [f"signal-{signal_id}"]
    assert jobs[0]["description"] == f"execute 1 signal(s) from {signal_id}"

    job = client.get(f"/rq/0/data/job/signal-{signal_id}.json", headers=AUTH)
    assert job.status_code == 200
    assert job.json()["origin"] == "signals"
    assert job.json()["status"] == "queued"

    # a finished job's page decodes its result: only with the JSON serializer configured
    queue = queue_of(redis_url)
    done = queue.enqueue("tests.integration.test_web_ops.finish_quickly", at_front=True)
    # the service's worker: RQ's own SimpleWorker may take a minute to stop (its command
    # thread's 60 s read; `SignalWorker.subscribe`)
    SignalWorker([queue], connection=queue.connection, serializer=JSONSerializer).work(
        burst=True, max_jobs=1
    )
    finished = client.get(f"/rq/0/data/job/{done.id}.json", headers=AUTH)
    assert finished.status_code == 200
    assert (finished.json()["status"], finished.json()["result"]) == ("finished", "done")


def test_token_in_the_query_once_then_a_cookie(client, redis_url):
    queued_signal(client, redis_url)
    first = client.get("/rq/0/view/queues?token=" + TOKEN + "&x=1", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/rq/0/view/queues?x=1"  # the token leaves the URL
    set_cookie = first.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}=")
    assert TOKEN not in set_cookie
    assert "HttpOnly" in set_cookie
    assert "Path=/rq" in set_cookie

    # the cookie alone now opens pages, static files and the JSON polling
    assert client.get("/rq/0/view/workers").status_code == 200
    assert client.get("/rq/static/css/main.css").status_code == 200
    assert client.get("/rq/0/data/workers.json").json() == {"workers": []}

    # the dashboard's buttons post; another site's page may not press them through the cookie
    empty = "/rq/queue/signals/queued/empty"
    cross = client.post(empty, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert "other sites" in cross.json()["reason"]
    assert queue_of(redis_url).count == 1
    same = client.post(empty, headers={"Origin": "http://testserver.local"})
    assert same.json() == {"status": "OK"}
    assert queue_of(redis_url).count == 0

    client.cookies.clear()
    client.cookies.set(COOKIE, "forged", domain="testserver.local", path="/rq")
    assert client.get("/rq/0/view/workers").status_code == 401
    wrong = client.get("/rq/?token=nope", follow_redirects=False)
    assert wrong.status_code == 401
    assert "token is wrong" in wrong.json()["reason"]


def test_dashboard_is_off_without_api_token_unless_local_and_paper(redis_url, sqlite_url):
    settings = Settings(redis_url=redis_url, database_url=sqlite_url, webhook_secret=SECRET)
    with TestClient(create_app(build_services(settings))) as remote:  # peer: "testclient"
        response = remote.get("/rq/")
    assert response.status_code == 404
    assert "set API_TOKEN" in response.json()["reason"]


@pytest.fixture
def serve_locally(redis_url: str, sqlite_url: str) -> Iterator[Callable[..., str]]:
    """The app under a real uvicorn in a thread: requests come from 127.0.0.1."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def serve(**overrides: Any) -> str:
        settings = Settings(redis_url=redis_url, database_url=sqlite_url, **overrides)
        port = free_port()
        config = uvicorn.Config(
            create_app(build_services(settings)), host="127.0.0.1", port=port, log_level="warning"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        eventually(lambda: server.started)
        return f"http://127.0.0.1:{port}"

    yield serve
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


@pytest.mark.parametrize(
    ("mode", "code"), [(TradingMode.PAPER, 200), (TradingMode.TESTNET, 404)], ids=str
)
def test_dashboard_without_api_token_from_this_machine(serve_locally, mode, code):
    base = serve_locally(trading_mode=mode)
    page = httpx.get(f"{base}/rq/", timeout=5)
    assert page.status_code == code
    if code == 200:
        # under a real server too, the static files resolve through the mount
        assert httpx.get(f"{base}/rq/static/css/main.css", timeout=5).status_code == 200
        assert httpx.get(f"{base}/rq", timeout=5, follow_redirects=True).status_code == 200
    else:
        assert "set API_TOKEN" in page.json()["reason"]


# --- signalgate dashboard


def test_dashboard_command_serves_the_same_redis_on_localhost(client, redis_url, tmp_path):
    queued_signal(client, redis_url)
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.entrypoints.cli", "dashboard", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def answer() -> httpx.Response | None:
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            try:
                return httpx.get(f"http://127.0.0.1:{port}/0/data/queues.json", timeout=1)
            except httpx.HTTPError:
                return None

        queues = eventually(answer, timeout=20).json()["queues"]
        assert [(q["name"], q["count"]) for q in queues] == [("signals", 1)]
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
        listening = {
            c.laddr.ip
            for c in psutil.Process(process.pid).net_connections()
            if c.status == psutil.CONN_LISTEN
        }
        assert listening == {"127.0.0.1"}
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()  # type: ignore[union-attr]


# --- /metrics


def scrape(client: TestClient[Any]) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_metrics_count_signals_queue_registries_and_latency(client, redis_url):
    queue = queue_of(redis_url)
    for alert_id in ("m1", "m2"):
        answer = client.post("/webhook", content=alert(id=alert_id)).json()
        assert answer["status"] == "queued"
        # one job each: sent together, the forwarder could batch both signals into one job
        job = f"signal-{answer['signal_id']}"
        eventually(lambda job=job: job in queue.job_ids)
    assert client.post("/webhook", content=alert(id="m1")).json()["status"] == "duplicate"
    assert client.post("/webhook", content=alert(confidence=0.2)).json()["status"] == "filtered"
    assert len(queue.job_ids) == 2

    # a job that finishes and one that fails, run ahead of the signals' jobs by the worker
    queue.enqueue("tests.integration.test_web_ops.fail_loudly", at_front=True)
    queue.enqueue("tests.integration.test_web_ops.finish_quickly", at_front=True)
    worker = SignalWorker([queue], connection=queue.connection, serializer=JSONSerializer)
    worker.work(burst=True, max_jobs=2)
    later = queue.enqueue_in(timedelta(hours=1), "tests.integration.test_web_ops.finish_quickly")
    queue.enqueue("tests.integration.test_web_ops.finish_quickly", depends_on=later)

    def counted() -> dict[str, Any] | None:
        metrics = scrape(client)
        by_status = metrics["signalgate_signals_total"]
        return metrics if sum(by_status.values()) == 4 else None

    metrics = eventually(counted)
    assert metrics["signalgate_signals_total"] == {
        (("status", status),): count
        for status, count in {
            "queued": 2,
            "duplicate": 1,
            "filtered": 1,
            "spooled": 0,
            "stale": 0,
            "executed": 0,
            "denied": 0,
            "expired": 0,
            "failed": 0,
        }.items()
    }
    assert metrics["signalgate_queue_depth"] == {
        (("queue", "signals"),): 2, (("queue", "notifications"),): 0
    }  # fmt: skip
    assert metrics["signalgate_jobs"] == {
        (("state", "started"),): 0,
        (("state", "failed"),): 1,
        (("state", "deferred"),): 1,
        (("state", "scheduled"),): 1,
    }
    # one finished job (the failed one is not in the finished registry): its latency is the window
    assert metrics["signalgate_job_latency_seconds_count"] == {(): 1}
    latency = metrics["signalgate_job_latency_seconds"]
    assert 0 <= latency[(("quantile", "0.5"),)] < 30
    assert latency[(("quantile", "0.99"),)] == latency[(("quantile", "0.5"),)]
    assert metrics["signalgate_job_latency_seconds_sum"] == {(): latency[(("quantile", "0.5"),)]}


def test_metrics_need_the_token(client):
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["reason"] == "send Authorization: Bearer <API_TOKEN>."
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_metrics_without_api_token_answer_only_this_machine(redis_url, sqlite_url):
    settings = Settings(redis_url=redis_url, database_url=sqlite_url, webhook_secret=SECRET)
    with TestClient(create_app(build_services(settings))) as remote:
        response = remote.get("/metrics")
    assert response.status_code == 401
    assert "set API_TOKEN" in response.json()["reason"]


def test_metrics_say_when_redis_is_unreachable(sqlite_url):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = Settings(redis_url=dead, database_url=sqlite_url, api_token=TOKEN)
    with TestClient(create_app(build_services(settings), run_forwarder=False)) as client:
        started = time.monotonic()
        response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 503
    assert "Redis unreachable" in response.json()["reason"]
    assert time.monotonic() - started < 5


@pytest.mark.anyio
async def test_the_first_marks_import_the_venues_without_holding_the_event_loop(
    redis_url: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The venues (ccxt) are imported on the first request that marks positions, not at start;
    on the event loop that import held every other request, alerts too, for a second or more
    (five and more on a loaded machine: a /positions right after a monitor's failover timed out)."""
    importing = importlib.import_module

    def slow_import(name: str) -> Any:
        time.sleep(0.3)  # what importing ccxt costs, and more
        return importing(name)

    monkeypatch.setattr("app.bootstrap.web.importlib.import_module", slow_import)
    services = build_services(Settings(redis_url=redis_url, database_url=sqlite_url))
    await services.startup(run_forwarder=False)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(tick())
    try:
        venues = await services.marking_venues()
    finally:
        ticking.cancel()
        await services.shutdown()
    assert set(venues) == {"paper"}
    assert ticks >= 10  # the loop went on meanwhile
    assert await services.marking_venues() is venues  # built once
