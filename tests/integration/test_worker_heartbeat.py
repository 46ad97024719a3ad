"""The worker's side of recovering abandoned jobs: a running job's heartbeat is renewed (a
long job is not taken for dead), and an expired one is put back at the front of the queue,
while a leftover entry of a finished job is not."""

from __future__ import annotations

import subprocess
import sys
import time

import redis
from rq import Queue
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from app.bootstrap.worker import ABANDONED_AFTER_SECONDS, HEARTBEAT_SECONDS, requeue_abandoned

BURST = """
import sys, redis
from rq import Queue
from rq.serializers import JSONSerializer
from app.bootstrap.worker import SignalWorker
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
        for _ in range(200):  # the job starts
            if first := _scores(connection, queue):
                break
            time.sleep(0.05)
        assert first, "the job did not start"
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
