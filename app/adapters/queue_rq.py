"""The job queue on RQ, with deterministic job ids.

One job per forwarded batch: `execute_signal(id, account, symbol)` (job `signal-<id>`) for a lone
signal, the common case and the one latency is about; `execute_signals([ids], [[account,
symbol]])` (job `signals-<first>-<last>`) when the forwarder moves several at once, so that under
load a worker pays RQ's per-job cost (about 57 Redis commands) once per batch instead of once per
signal. Either way the signals are executed one by one, idempotently: a signal in two jobs runs
once. Each signal's account and symbol travel with it: the worker takes their lock without a
read of the database first.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from app.adapters.redis.errors import unavailable
from app.domain.signals import SignalRecord

EXECUTE_SIGNAL = "workers.jobs.execute_signal"
EXECUTE_SIGNALS = "workers.jobs.execute_signals"
BATCH = 50  # signals per job at most
# A finished job (its hash and result) stays this long: rq-dashboard shows the last minutes'
# jobs, and Redis holds a few kilobytes per job for that long only, not a day of them. The
# signal's status in SQL is the record; the forwarder's re-enqueue of an expired job would run
# idempotently.
RESULT_TTL_SECONDS = 600
FAILURE_TTL_SECONDS = 7 * 86_400  # a failed job waits a week for someone to look at it


def job_id(signal_ids: Sequence[str]) -> str:
    if len(signal_ids) == 1:
        return f"signal-{signal_ids[0]}"
    return f"signals-{signal_ids[0]}-{signal_ids[-1]}"


def _batches(records: Sequence[SignalRecord]) -> list[Sequence[SignalRecord]]:
    return [records[i : i + BATCH] for i in range(0, len(records), BATCH)]


def job_args(batch: Sequence[SignalRecord]) -> tuple[object, ...]:
    """`execute_signal(id, account, symbol)` or `execute_signals([ids], [[account, symbol]])`:
    each signal's lock key travels with it (JSON: lists, not tuples)."""
    if len(batch) == 1:
        return (batch[0].id, batch[0].signal.account, batch[0].signal.symbol)
    return ([r.id for r in batch], [[r.signal.account, r.signal.symbol] for r in batch])


class RqJobQueue:
    def __init__(self, client: redis.Redis, name: str) -> None:
        self._client = client
        self.queue = Queue(name, connection=client, serializer=JSONSerializer)

    def enqueue_signals(self, records: Sequence[SignalRecord], *, new: bool = False) -> None:
        if not records:
            return
        batches = _batches(records)
        with unavailable():
            exists = [False] * len(batches) if new else self._exist(batches)
            self.queue.enqueue_many(
                [
                    Queue.prepare_data(
                        EXECUTE_SIGNAL if len(batch) == 1 else EXECUTE_SIGNALS,
                        args=job_args(batch),
                        job_id=job_id([r.id for r in batch]),
                        description=f"execute {len(batch)} signal(s) from {batch[0].id}",
                        timeout=120,
                        result_ttl=RESULT_TTL_SECONDS,
                        failure_ttl=FAILURE_TTL_SECONDS,
                        retry=Retry(max=3, interval=[10, 60, 300]),
                    )
                    for batch, found in zip(batches, exists, strict=True)
                    if not found
                ]
            )

    def _exist(self, batches: Sequence[Sequence[SignalRecord]]) -> list[bool]:
        """Whether each batch's job is queued already (one round trip)."""
        pipe = self._client.pipeline(transaction=False)
        for batch in batches:
            pipe.exists(Job.key_for(job_id([r.id for r in batch])))
        return [bool(found) for found in pipe.execute()]

    def backlog(self) -> int:
        with unavailable():
            return int(self.queue.count)
