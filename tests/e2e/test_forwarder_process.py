"""The forwarder as the Procfile runs it: a process of its own beside `serve`, whose heartbeat
`/ready` reads, so that a dead forwarder shows within seconds and a new one is seen at once."""

from __future__ import annotations

import signal
import subprocess
import sys

import redis
from rq import Queue

from tests.e2e.test_serve import send
from tests.integration.helpers import eventually

BOUND = 30.0  # a hang, not a speed: /ready flags a forwarder silent for over 5 s


def forwarder_check(service) -> tuple[int, str]:
    answer = service.get("/ready")
    return answer.status_code, answer.json()["checks"]["forwarder"]


def test_ready_names_a_stopped_forwarder_and_sees_a_new_one(start_service, redis_url):
    service = start_service()
    assert eventually(lambda: forwarder_check(service) == (200, "ok"), timeout=BOUND)

    service.forwarder.send_signal(signal.SIGKILL)  # a crash: nothing is cleaned up
    service.forwarder.wait(BOUND)
    _, said = eventually(
        lambda: (found := forwarder_check(service))[0] == 503 and found, timeout=BOUND
    )
    assert said.startswith("no forwarder heartbeat for "), said
    assert "(over 5 s): start `signalgate forward` or read its logs." in said
    assert service.get("/health").status_code == 200  # the web process itself is fine

    # an alert accepted meanwhile waits in the inbox; the next forwarder moves it on
    sent = send(service, "--symbol", "BTCUSDT", "--qty", "0.001")
    assert sent.stdout.startswith("202 "), sent.stdout + sent.stderr
    queue = Queue("signals", connection=redis.Redis.from_url(redis_url))
    assert queue.count == 0
    again = subprocess.Popen([sys.executable, "-m", "app.entrypoints.cli", "forward"],
                             env=service.env)  # fmt: skip
    try:
        assert eventually(lambda: forwarder_check(service) == (200, "ok"), timeout=BOUND)
        assert eventually(lambda: queue.count == 1, timeout=BOUND)
    finally:
        again.terminate()
        assert again.wait(BOUND) == 0  # SIGTERM: the batch in hand is finished, then it exits


def test_a_web_process_whose_forwarder_never_started_is_not_ready(start_service):
    service = start_service(forwarder=False)
    status, said = forwarder_check(service)
    assert status == 503
    assert said == "no forwarder has run yet: start `signalgate forward` (Procfile: forwarder)."
