"""What RQ's bookkeeping costs the worker per job, in Redis round trips (each one a wait on the
latency path, between a job's dequeue and its start or before the next dequeue)."""

from __future__ import annotations

import threading
from typing import Any

import redis
from rq import Queue
from rq.serializers import JSONSerializer

from app.bootstrap.rq_worker import SignalWorker


class _CountedConnection(redis.Connection):
    """A connection that counts what the worker's own thread sends: one send, one round trip
    (a pipeline is one)."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if threading.current_thread() is threading.main_thread():
            type(self).sent += 1
        super().send_packed_command(command, check_health)


def _round_trips_for(redis_url: str, jobs: int) -> int:
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=_CountedConnection)
    connection = redis.Redis(connection_pool=pool)
    connection.flushdb()
    queue = Queue("trips", connection=connection, serializer=JSONSerializer)
    for number in range(jobs):
        queue.enqueue("builtins.len", [number])
    _CountedConnection.sent = 0
    SignalWorker([queue], connection=connection, serializer=JSONSerializer).work(
        burst=True, logging_level="WARNING"
    )
    sent = _CountedConnection.sent
    assert queue.finished_job_registry.count == jobs
    connection.close()
    return sent


def test_rqs_bookkeeping_costs_about_nine_round_trips_a_job(redis_url: str) -> None:
    one, eleven = _round_trips_for(redis_url, 1), _round_trips_for(redis_url, 11)

    per_job = (eleven - one) / 10

    # dequeue, fetch, the execution's and the job's bookkeeping (one), the job's heartbeat, its
    # result (three), the worker's state, the suspension check: 9, and a beat of the worker's
    # own once a second at most. RQ's own loop sent 20: three beats of the worker's key around
    # every job, three round trips each, the same state written twice, and the execution's
    # bookkeeping apart from the job's.
    assert per_job <= 10, per_job


_BEAT_THREADS: list[threading.Thread] = []


def note_heartbeat_thread() -> None:
    """A job: notes the thread renewing its heartbeat."""
    _BEAT_THREADS.extend(t for t in threading.enumerate() if t.name == "job-heartbeat")


def test_one_thread_renews_every_jobs_heartbeat(redis_url: str) -> None:
    """Not a thread started and joined per job (about 0.15 ms of CPU, between a job's dequeue
    and its start)."""
    connection = redis.Redis.from_url(redis_url)
    queue = Queue("beats", connection=connection, serializer=JSONSerializer)
    for _ in range(3):
        queue.enqueue(f"{__name__}.note_heartbeat_thread")
    _BEAT_THREADS.clear()

    SignalWorker([queue], connection=connection, serializer=JSONSerializer).work(
        burst=True, logging_level="WARNING"
    )

    assert queue.finished_job_registry.count == 3
    assert len(_BEAT_THREADS) == 3
    assert len({id(thread) for thread in _BEAT_THREADS}) == 1
    connection.close()


_SENT: list[str] = []  # what the worker's thread sent, in order, and each job's start


class _LoggedConnection(redis.Connection):
    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if threading.current_thread() is threading.main_thread():
            first = command[0] if isinstance(command, list) else command
            _SENT.append(bytes(first).split(b"\r\n")[2].decode())
        super().send_packed_command(command, check_health)


def note_start() -> None:
    """A job: notes that it runs."""
    _SENT.append("JOB")


def test_two_round_trips_between_a_jobs_dequeue_and_its_start(redis_url: str) -> None:
    """Its fetch, then the execution's and the job's bookkeeping in one pipeline (RQ: two, and
    three round trips of the worker's own heartbeat)."""
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=_LoggedConnection)
    connection = redis.Redis(connection_pool=pool)
    queue = Queue("starts", connection=connection, serializer=JSONSerializer)
    for _ in range(3):
        queue.enqueue(f"{__name__}.note_start")
    _SENT.clear()

    SignalWorker([queue], connection=connection, serializer=JSONSerializer).work(
        burst=True, logging_level="WARNING"
    )

    starts = [i for i, sent in enumerate(_SENT) if sent == "JOB"]
    assert len(starts) == 3
    for start in starts:
        dequeue = max(i for i in range(start) if _SENT[i] == "LMOVE")
        assert _SENT[dequeue + 1 : start] == ["HGETALL", "MULTI"]
    connection.close()
