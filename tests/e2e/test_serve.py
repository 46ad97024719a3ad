"""`signalgate serve` as the Procfile runs it, fed by `signalgate send` in every dialect."""

from __future__ import annotations

import subprocess
import sys

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
import redis
from rq import Queue

from app.entrypoints.cli.send import DIALECTS
from tests.e2e.conftest import SECRET
from tests.integration.helpers import eventually

TRADINGVIEW = "52.89.214.238"


def send(service, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.entrypoints.cli", "send", "--url", service.base, *args],
        env=service.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_every_dialect_from_the_cli_is_queued_and_listed(start_service, redis_url):
    service = start_service()
    for n, dialect in enumerate(DIALECTS):
        done = send(
            service, "--dialect", dialect, "--symbol", "BINANCE:ETHUSDT", "--qty", f"0.{n + 1}",
            "--price", "3000", "--tp", "3100", "--sl", "2950", "--strategy", f"e2e-{dialect}",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("202 "), done.stdout
    listed = eventually(
        lambda: (s := service.get("/signals").json()["signals"]) and len(s) == len(DIALECTS) and s
    )
    assert {s["dialect"] for s in listed} == set(DIALECTS)
    assert {s["symbol"] for s in listed} == {"ETH/USDT"}
    assert all(SECRET not in str(s["payload"]) for s in listed)
    queue = Queue("signals", connection=redis.Redis.from_url(redis_url))
    assert eventually(lambda: queue.count == len(DIALECTS))


def test_send_reports_a_rejection_with_a_nonzero_exit(start_service):
    service = start_service()
    done = send(service, "--secret", "wrong")
    assert done.returncode == 1
    assert done.stdout.startswith("401 ")


@pytest.mark.parametrize(
    ("source", "forwarded_for", "expected"),
    [
        ("127.0.0.1", TRADINGVIEW, 202),  # through the trusted proxy, from TradingView
        ("127.0.0.2", TRADINGVIEW, 403),  # an untrusted peer cannot claim to be TradingView
        ("127.0.0.1", f"{TRADINGVIEW}, 10.9.9.9", 403),  # the nearest untrusted hop counts
        ("127.0.0.1", None, 403),  # the proxy itself is not TradingView
    ],
)
def test_tradingview_allowlist(start_service, source, forwarded_for, expected):
    service = start_service(TRADINGVIEW_IPS_ONLY="true", TRUSTED_PROXIES="127.0.0.1/32")
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    body = f'{{"symbol": "BTCUSDT", "action": "buy", "qty": "1", "secret": "{SECRET}"}}'
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=5) as client:
        response = client.post(service.base + "/webhook", content=body, headers=headers)
    assert response.status_code == expected, response.text


def test_sigterm_stops_the_web_and_its_forwarder(start_service):
    service = start_service()  # alone, as a one-process deployment runs it
    children = psutil.Process(service.process.pid).children(recursive=True)
    assert any("forward" in c.cmdline() for c in children), "serve alone runs a forwarder"
    service.process.terminate()
    service.process.wait(15)
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive
    with pytest.raises(httpx.HTTPError):
        httpx.get(service.base + "/health", timeout=1)


def test_the_forwarder_dies_with_a_killed_web_process(start_service):
    service = start_service()
    children = psutil.Process(service.process.pid).children(recursive=True)
    assert any("forward" in c.cmdline() for c in children), "serve alone runs a forwarder"
    service.process.kill()  # no clean-up runs: the kernel takes the forwarder down with it
    service.process.wait(15)
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive


def test_a_forwarder_whose_web_process_is_already_gone_exits_at_once():
    # a web process killed while its forwarder was still starting: the forwarder finds another
    # parent than the one it was started for, and must not run on unattended
    done = subprocess.run(
        [sys.executable, "-m", "app.entrypoints.cli", "forward", "--exit-with-parent", "1"],
        capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0
