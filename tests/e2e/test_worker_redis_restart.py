"""`signalgate worker` rides out a Redis restart, also one that happens while it runs a job: it
waits for Redis and works on, rather than exiting (a platform that sees a worker crash twice in
a row holds it back for minutes)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from tests.e2e.faults import CLI, PrivateRedis
from tests.integration.helpers import eventually

BOUND = 60.0  # a hang, not a speed


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def workers(tmp_path: Path, private_redis: PrivateRedis) -> Iterator[Callable[[], Worker]]:
    started: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "REDIS_URL": private_redis.url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'worker.db'}",
        "LOG_LEVEL": "INFO",
    }

    def start() -> Worker:
        log = tmp_path / f"worker-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*CLI, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        started.append(process)
        return Worker(process, log)

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)


class Worker:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def assert_running(self) -> None:
        code = self.process.poll()
        assert code is None, f"the worker exited ({code}): {self.log.read_text()}"


def test_a_worker_whose_redis_restarts_during_a_job_works_on(
    private_redis: PrivateRedis, workers: Callable[[], Worker]
) -> None:
    worker = workers()
    client = redis.Redis.from_url(private_redis.url)
    queue = Queue("signals", connection=client, serializer=JSONSerializer)
    slow = queue.enqueue("time.sleep", 1.5)
    eventually(lambda: slow.get_status(refresh=True) is JobStatus.STARTED, timeout=BOUND)
    private_redis.kill()  # the job ends while Redis is away: its end cannot be written
    time.sleep(2.5)
    private_redis.start()
    time.sleep(1)  # what a worker that gave up does next: it exits
    worker.assert_running()
    quick = queue.enqueue("time.sleep", 0)  # and it works on
    eventually(lambda: quick.get_status(refresh=True) is JobStatus.FINISHED, timeout=BOUND)
    # the job whose end was lost is re-queued like a dead worker's, and run again
    eventually(lambda: slow.get_status(refresh=True) is JobStatus.FINISHED, timeout=BOUND)
    worker.assert_running()
    client.close()


def test_a_worker_started_while_redis_is_down_waits_for_it(
    private_redis: PrivateRedis, workers: Callable[[], Worker]
) -> None:
    private_redis.kill()
    worker = workers()
    eventually(lambda: b"worker starting" in worker.log.read_bytes(), timeout=BOUND)
    time.sleep(1.5)  # what a worker that finds no Redis does next: it exits
    worker.assert_running()
    private_redis.start()
    client = redis.Redis.from_url(private_redis.url)
    job = Queue("signals", connection=client, serializer=JSONSerializer).enqueue("time.sleep", 0)
    eventually(lambda: job.get_status(refresh=True) is JobStatus.FINISHED, timeout=BOUND)
    worker.assert_running()
    client.close()
