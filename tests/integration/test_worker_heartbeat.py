"""The worker's side of recovering abandoned jobs: a running job's heartbeat is renewed (a
long job is not taken for dead), and an expired one is put back at the front of the queue,
while a leftover entry of a finished job is not; never is one failed instead."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import redis
from rq import Queue
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from app.bootstrap.rq_worker import (
    ABANDONED_AFTER_SECONDS,
    HEARTBEAT_SECONDS,
    SignalWorker,
    requeue_abandoned,
)

BURST = """
import sys, redis
from rq import Queue
from rq.serializers import JSONSerializer
from app.bootstrap.rq_worker import SignalWorker
connection = redis.Redis.from_url(sys.argv[1])
queue = Queue("beat-test", connection=connection, serializer=JSONSerializer)
SignalWorker([queue], connection=connection, serializer=JSONSerializer).work(
    burst=True, logging_level="WARNING"
)
"""


def _scores(connection: redis.Redis, queue: Queue) -> list[float]:
    return [s for _, s in connection.zrange(queue.started_job_registry.key, 0, -1, withscores=True)]


def test_a_running_jobs_heartbeat_is_renewed(redis_url: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    queue = Queue("beat-test", connection=connection, serializer=JSONSerializer)
    job = queue.enqueue("time.sleep", HEARTBEAT_SECONDS * 2 + 1)
    worker = subprocess.Popen([sys.executable, "-c", BURST, redis_url])
    try:
        first: list[float] = []
        deadline = time.monotonic() + 60  # the worker imports ccxt first: slow on a busy machine
        while time.monotonic() < deadline and worker.poll() is None:  # the job starts
            if first := _scores(connection, queue):
                break
            time.sleep(0.05)
        assert first, f"the job did not start (worker exit code {worker.poll()})"
        assert first[0] <= time.time() + ABANDONED_AFTER_SECONDS + 1  # not timeout + 60 s
        time.sleep(HEARTBEAT_SECONDS + 0.5)
        later = _scores(connection, queue)
        assert later, "the job ended early"
        assert later[0] > first[0]  # renewed while it runs
        assert worker.wait(30) == 0
        assert job.get_status() == JobStatus.FINISHED
    finally:
        worker.kill()
        worker.wait()
        connection.close()


def test_an_expired_started_job_goes_back_to_the_front_and_a_finished_one_does_not(
    redis_url: str,
) -> None:
    connection = redis.Redis.from_url(redis_url)
    queue = Queue("beat-test", connection=connection, serializer=JSONSerializer)
    waiting = queue.enqueue("builtins.len", [1])
    dead, done = (queue.enqueue("builtins.len", [n]) for n in (2, 3))
    for job, status in ((dead, JobStatus.STARTED), (done, JobStatus.FINISHED)):
        connection.lrem(queue.key, 0, job.id)
        job.set_status(status)
        past = time.time() - 1
        connection.zadd(queue.started_job_registry.key, {f"{job.id}:exec-{job.id}": past})
    assert requeue_abandoned(queue) == [dead.id]
    assert queue.job_ids == [dead.id, waiting.id]
    assert dead.get_status() == JobStatus.QUEUED
    assert connection.zcard(queue.started_job_registry.key) == 0
    assert requeue_abandoned(queue) == []  # taken once
    connection.close()


class SlowQueue(Queue):
    """A queue whose worker is held up (a busy machine) between its look for abandoned jobs and
    the rest of its maintenance, until `lapse`: a heartbeat lapses in between."""

    def __init__(self, name: str, lapse: float, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.lapse = lapse

    def acquire_maintenance_lock(self) -> bool:
        while time.time() <= self.lapse:
            time.sleep(0.01)
        return bool(super().acquire_maintenance_lock())


def test_a_heartbeat_that_lapses_during_maintenance_is_re_queued_not_failed(
    redis_url: str,
) -> None:
    """RQ's own clean-up of the started registry fails every job whose heartbeat has lapsed. Run
    after the look for abandoned jobs, it failed one that lapsed in between: a job whose end a
    Redis restart had lost was never run again (one suite run in five, on a busy machine)."""
    connection = redis.Redis.from_url(redis_url)
    # RQ scores a heartbeat in whole seconds: a lapse at least a second away, so that the first
    # look for abandoned jobs (the set-up's few milliseconds, longer on a busy machine) precedes it
    lapse = int(time.time()) + 2
    queue = SlowQueue("beat-test", lapse, connection=connection, serializer=JSONSerializer)
    job = queue.enqueue("builtins.len", [1])
    connection.lrem(queue.key, 0, job.id)
    job.set_status(JobStatus.STARTED)
    connection.zadd(queue.started_job_registry.key, {f"{job.id}:exec-{job.id}": lapse})
    worker = SignalWorker([queue], connection=connection, serializer=JSONSerializer)
    worker.clean_registries()
    assert job.get_status() == JobStatus.STARTED  # still abandoned, not failed
    assert queue.failed_job_registry.get_job_ids() == []
    worker.clean_registries()  # the next maintenance
    assert queue.job_ids == [job.id]
    assert job.get_status() == JobStatus.QUEUED
    connection.close()


def test_a_job_taken_but_never_started_is_re_queued_not_failed(redis_url: str) -> None:
    """A worker moved the job to RQ's intermediate list and died (or lost Redis) before it
    started it. RQ's own clean-up fails such a job after a minute; ours puts it back."""
    connection = redis.Redis.from_url(redis_url)
    queue = Queue("stuck-test", connection=connection, serializer=JSONSerializer)
    job = queue.enqueue("builtins.len", [1, 2])
    connection.lmove(queue.key, queue.intermediate_queue_key, "LEFT", "RIGHT")  # taken
    assert queue.count == 0
    worker = SignalWorker([queue], connection=connection, serializer=JSONSerializer)

    worker.clean_registries()  # first seen: nothing yet
    assert queue.count == 0
    seen = queue.intermediate_queue.get_first_seen_key(job.id)
    connection.set(seen, time.time() - 120)  # two minutes ago
    worker.clean_registries()

    assert queue.job_ids == [job.id]
    assert job.get_status() == JobStatus.QUEUED
    assert queue.intermediate_queue.get_job_ids() == []
    assert worker.work(burst=True)
    assert job.get_status() == JobStatus.FINISHED
