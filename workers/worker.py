"""The `worker` process: an RQ worker that runs jobs in its own process, on one event loop.

Not RQ's forking `Worker` (a fork per job costs ~29 ms and would lose the event loop, the ccxt
sessions and the database pool between jobs) and not `HerokuWorker` (a forking worker too): a
`SimpleWorker`, whose SIGTERM handling already is what Heroku needs: the first SIGTERM lets the
running job finish (ours take milliseconds; Heroku waits 30 s before SIGKILL), then it exits.
A job killed anyway is re-run by RQ and finds its orders by client order id.
"""

from __future__ import annotations

import redis
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer

from app.config import Settings
from workers import jobs


class SignalWorker(SimpleWorker):
    """Runs `workers.jobs.execute_signal` jobs in process; see the module docstring."""


def run_worker(settings: Settings, *, burst: bool = False) -> bool:
    """Work the signals queue until stopped (or, with `burst`, until it is empty)."""
    assert settings.redis_url is not None
    jobs.runtime()  # open the loop, the venues and the pool before the first job arrives
    connection = redis.Redis.from_url(settings.redis_url)
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    worker = SignalWorker([queue], connection=connection, serializer=JSONSerializer)
    return bool(
        worker.work(
            burst=burst,
            with_scheduler=True,  # retries wait in the scheduler
            logging_level=settings.log_level,
        )
    )
