"""The worker process exits promptly when it stops (RQ's command thread must not hold it)."""

from __future__ import annotations

import subprocess
import sys

import redis
from rq import Queue
from rq.serializers import JSONSerializer

ROUNDS = 4
# RQ's own command thread waits up to 60 s per read, and one stop in every two or three waited
# for it; a worker that stops has to be gone well before Heroku's SIGKILL (30 s after SIGTERM).
EXIT_BOUND_SECONDS = 20
BURST = """
import sys, redis
from rq import Queue
from rq.serializers import JSONSerializer
from app.bootstrap.rq_worker import SignalWorker
connection = redis.Redis.from_url(sys.argv[1])
queue = Queue("exit-test", connection=connection, serializer=JSONSerializer)
SignalWorker([queue], connection=connection, serializer=JSONSerializer).work(
    burst=True, logging_level="WARNING"
)
"""


def test_a_burst_worker_exits_soon_after_its_last_job(redis_url: str) -> None:
    connection = redis.Redis.from_url(redis_url)
    queue = Queue("exit-test", connection=connection, serializer=JSONSerializer)
    for _ in range(ROUNDS):
        queue.enqueue("builtins.len", [1, 2])
        subprocess.run(
            [sys.executable, "-c", BURST, redis_url], check=True, timeout=EXIT_BOUND_SECONDS
        )
    assert queue.count == 0
    connection.close()
