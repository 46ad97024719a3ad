"""The job queue on RQ: one `execute_signal` job per signal, with a deterministic job id."""

from __future__ import annotations

from collections.abc import Sequence

import redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from app.ports import Unavailable

EXECUTE_SIGNAL = "workers.jobs.execute_signal"


def job_id(signal_id: str) -> str:
    return f"signal-{signal_id}"


class RqJobQueue:
    def __init__(self, client: redis.Redis, name: str) -> None:
        self._client = client
        self.queue = Queue(name, connection=client, serializer=JSONSerializer)

    def enqueue_signals(self, signal_ids: Sequence[str]) -> None:
        if not signal_ids:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for signal_id in signal_ids:
                pipe.exists(Job.key_for(job_id(signal_id)))
            exists = pipe.execute()
            self.queue.enqueue_many(
                [
                    Queue.prepare_data(
                        EXECUTE_SIGNAL,
                        args=(signal_id,),
                        job_id=job_id(signal_id),
                        description=f"execute signal {signal_id}",
                        timeout=120,
                        result_ttl=86_400,
                        failure_ttl=7 * 86_400,
                        retry=Retry(max=3, interval=[10, 60, 300]),
                    )
                    for signal_id, found in zip(signal_ids, exists, strict=True)
                    if not found
                ]
            )
        except (RedisError, OSError) as exc:
            raise Unavailable(str(exc)) from exc
