"""What RQ's bookkeeping costs the worker per job, in Redis round trips (each one a wait on the
latency path, between a job's dequeue and its start or before the next dequeue), and in
threads."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from app.bootstrap.rq_worker import ABANDONED_AFTER_SECONDS, WORKER_BEAT_SECONDS, SignalWorker

_SENT: list[str] = []  # what the worker's thread sent (a pipeline: its first command), in order
_BEAT_THREADS: list[threading.Thread] = []
_PIPELINED: list[tuple[Any, ...]] = []  # every command the pipelines sent, in order


class _LoggedConnection(redis.Connection):
    """A connection that notes what the worker's own thread sends: one send, one round trip."""

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if threading.current_thread() is threading.main_thread():
            first = command[0] if isinstance(command, list) else command
            _SENT.append(bytes(first).split(b"\r\n")[2].decode())
        super().send_packed_command(command, check_health)


class _PipelineLog(redis.Connection):
    def pack_commands(self, commands: Any) -> Any:
        _PIPELINED.extend(tuple(command) for command in commands)
        return super().pack_commands(commands)


def note_start() -> None:
    """A job: notes that it runs, among what the worker sent."""
    _SENT.append("JOB")


def note_heartbeat_thread() -> None:
    """A job: notes the thread renewing its heartbeat."""
    _BEAT_THREADS.extend(t for t in threading.enumerate() if t.name == "job-heartbeat")


def _burst(redis_url: str, job: str, jobs: int) -> list[str]:
    """Run `jobs` jobs of function `job` with an in-process worker; what it sent."""
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=_LoggedConnection)
    connection = redis.Redis(connection_pool=pool)
    connection.flushdb()
    queue = Queue("trips", connection=connection, serializer=JSONSerializer)
    for _ in range(jobs):
        queue.enqueue(f"{__name__}.{job}")
    _SENT.clear()
    SignalWorker([queue], connection=connection, serializer=JSONSerializer).work(
        burst=True, logging_level="WARNING"
    )
    assert queue.finished_job_registry.count == jobs
    connection.close()
    return [sent for sent in _SENT if sent != "JOB"]


def test_rqs_bookkeeping_costs_about_nine_round_trips_a_job(redis_url: str) -> None:
    one, eleven = len(_burst(redis_url, "note_start", 1)), len(_burst(redis_url, "note_start", 11))

    per_job = (eleven - one) / 10

    # dequeue, fetch, the execution's and the job's bookkeeping (one), the job's heartbeat, its
    # result (three), the worker's state, the suspension check: 9, and a beat of the worker's
    # own once a second at most. RQ's own loop sent 20: three beats of the worker's key around
    # every job, three round trips each, the same state written twice, and the execution's
    # bookkeeping apart from the job's.
    assert per_job <= 10, per_job


def test_two_round_trips_between_a_jobs_dequeue_and_its_start(redis_url: str) -> None:
    """Its fetch, then the execution's and the job's bookkeeping in one pipeline (RQ: two, and
    three round trips of the worker's own heartbeat)."""
    _burst(redis_url, "note_start", 3)

    starts = [i for i, sent in enumerate(_SENT) if sent == "JOB"]
    assert len(starts) == 3
    for start in starts:
        dequeue = max(i for i in range(start) if _SENT[i] == "LMOVE")
        assert _SENT[dequeue + 1 : start] == ["HGETALL", "MULTI"]


def test_one_thread_renews_every_jobs_heartbeat(redis_url: str) -> None:
    """Not a thread started and joined per job (about 0.15 ms of CPU, between a job's dequeue
    and its start)."""
    _BEAT_THREADS.clear()

    _burst(redis_url, "note_heartbeat_thread", 3)

    assert len(_BEAT_THREADS) == 3
    assert len({id(thread) for thread in _BEAT_THREADS}) == 1


_MOMENT = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z$|^\d{10}(\.\d+)?$")  # a time, ISO or epoch


def _written(ids: dict[str, str]) -> list[tuple[str, ...]]:
    """What the pipelines sent, with the ids named by `ids` and every moment made alike."""
    written = []
    for command in _PIPELINED:
        parts = []
        for part in command:
            text = str(part)
            for found, name in ids.items():
                text = text.replace(found, name)
            parts.append("<moment>" if _MOMENT.match(text) else text)
        if parts[0] not in {"MULTI", "EXEC"}:
            written.append(tuple(parts))
    return written


def _names(job: Any, execution: Any, worker: SignalWorker) -> dict[str, str]:
    return {job.id: "<job>", execution.id: "<execution>", worker.name: "<worker>"}


def test_the_jobs_preparation_writes_what_rqs_own_two_steps_write(redis_url: str) -> None:
    """`SignalWorker._prepare` copies RQ's `prepare_execution` and `prepare_job_execution`
    into one pipeline: an RQ release (within the pin) that writes more, or otherwise, in
    either fails here instead of going unnoticed."""
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=_PipelineLog)
    connection = redis.Redis(connection_pool=pool)
    connection.flushdb()
    queue = Queue("trips", connection=connection, serializer=JSONSerializer)
    by_rq, by_us = (queue.enqueue(f"{__name__}.note_start") for _ in range(2))
    worker = SignalWorker([queue], connection=connection, serializer=JSONSerializer)

    _PIPELINED.clear()
    execution = SimpleWorker.prepare_execution(worker, by_rq)
    SimpleWorker.prepare_job_execution(worker, by_rq, remove_from_intermediate_queue=True)
    rqs: Sequence[tuple[str, ...]] = _written(_names(by_rq, execution, worker))
    _PIPELINED.clear()
    execution = worker._prepare(by_us)
    ours = _written(_names(by_us, execution, worker))
    connection.close()

    assert len(rqs) > 10
    assert ours == rqs


def test_an_idle_worker_beats_before_the_key_a_jobs_preparation_left_expires(
    redis_url: str,
) -> None:
    """After a job, the worker's key has ABANDONED_AFTER_SECONDS to live (the preparation's
    TTL) and the beats outside a job come once a second at most: the wait for the next job
    must end, and beat, before the key expires, or `rq info` and the dashboard lose the
    worker and RQ's clean-up drops it from the registry."""
    connection = redis.Redis.from_url(redis_url)
    queue = Queue("trips", connection=connection, serializer=JSONSerializer)
    worker = SignalWorker([queue], connection=connection, serializer=JSONSerializer)

    assert worker.dequeue_timeout + WORKER_BEAT_SECONDS < ABANDONED_AFTER_SECONDS
    connection.close()
