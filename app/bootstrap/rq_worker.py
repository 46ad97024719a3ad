"""The RQ worker every job process runs (`SignalWorker`): no fork per job, a job a dead worker
abandoned put back within seconds, and Redis outages ridden out.

Light on purpose, free of venue libraries: the `worker` process runs it over the signals queue
and the `notifier` process over the notifications queue.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, worker_registration
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimitRegistry
from rq.utils import now
from rq.worker import WorkerStatus

from app.bootstrap.job_beats import JobBeats

log = logging.getLogger("signalgate")

COMMAND_WAIT_SECONDS = 1.0
# A dead worker's job is re-queued within about ABANDONED_AFTER_SECONDS + MAINTENANCE_SECONDS
# (RQ's defaults: the job's timeout + 60 s, then up to 600 s).
HEARTBEAT_SECONDS = 2  # a running job's heartbeat is renewed this often
ABANDONED_AFTER_SECONDS = 10  # a job whose heartbeat is older than this was abandoned
MAINTENANCE_SECONDS = 5  # how often a worker looks for abandoned jobs, idle or between jobs
# RQ beats the worker's own key (not a job's) three times around every job, three round trips
# each; once a second is enough: a job's preparation leaves the key ABANDONED_AFTER_SECONDS to
# live, and a beat comes at the latest when the worker's wait for the next job
# (`dequeue_timeout`) ends
WORKER_BEAT_SECONDS = 1.0


def requeue_abandoned(queue: Queue) -> list[str]:
    """Put back, at the front of `queue`, every started job whose heartbeat has expired: its
    worker died (SIGKILL, a lost dyno) mid-job. The job is re-run at once, without spending one
    of its retries (RQ's own clean-up would schedule a retry 10 s later through a scheduler that
    may have died with the worker); a re-run is safe, the executor finds what the dead one began
    by client order id.

    Returns:
        The ids of the jobs put back.
    """
    registry = queue.started_job_registry
    connection = queue.connection
    requeued = []
    expired = cast("list[bytes]", connection.zrangebyscore(registry.key, 0, time.time()))
    for member in expired:
        if not connection.zrem(registry.key, member):
            continue  # another worker took it first
        job = queue.fetch_job(registry.parse_job_id(member))
        if job is None or job.get_status(refresh=False) != JobStatus.STARTED:
            continue  # finished or failed: a leftover entry, nothing was abandoned
        queue.enqueue_job(job, at_front=True)
        log.warning("job %s was abandoned by a dead worker; re-queued", job.id)
        requeued.append(job.id)
    return requeued


def requeue_stuck(queue: Queue) -> list[str]:
    """RQ's clean-up of the queue's intermediate list, except that a job stuck there (taken off
    the queue by a worker that died, or lost Redis, before it could start it) is put back at the
    front of the queue instead of failed: RQ's `IntermediateQueue.cleanup` fails it, and its
    signal would never run. Like RQ, a job is stuck once it has been seen there, not started,
    for over a minute.

    Returns:
        The ids of the jobs put back.
    """
    stuck, requeued = queue.intermediate_queue, []
    for job_id in stuck.get_job_ids():
        if job_id in queue.started_job_registry:
            continue
        job = queue.fetch_job(job_id)
        if job is None:
            stuck.remove(job_id)
        elif not stuck.set_first_seen(job_id) and stuck.should_be_cleaned_up(job_id):
            stuck.remove(job_id)
            queue.enqueue_job(job, at_front=True)
            log.warning("job %s was taken but never started (stuck); re-queued", job_id)
            requeued.append(job_id)
    return requeued


class SignalWorker(SimpleWorker):
    """Runs the jobs of `workers` (`jobs` in the worker, `notify` in the notifier) in its own
    process, one after the other.

    Not RQ's forking `Worker` (a fork per job costs ~29 ms and would lose the event loop, the
    ccxt sessions and the database pool between jobs) and not `HerokuWorker` (a forking worker
    too): a `SimpleWorker`, whose SIGTERM handling already is what Heroku needs: the first
    SIGTERM lets the running job finish (ours take milliseconds; Heroku waits 30 s before
    SIGKILL), then it exits.

    A job killed anyway (SIGKILL, a lost dyno) comes back within seconds: while a job runs, a
    thread renews its heartbeat every `HEARTBEAT_SECONDS` with a TTL of
    `ABANDONED_AFTER_SECONDS` (a `SimpleWorker` sets one heartbeat of the job's timeout + 60 s
    and never renews it), and every worker looks for expired ones every `MAINTENANCE_SECONDS`
    (RQ: every 600 s, and an idle worker only between 405 s waits for a job), putting them back
    at once (`requeue_abandoned`). The re-run finds its orders by client order id.
    """

    def __init__(self, queues: Sequence[Queue], **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        kwargs.setdefault("job_monitoring_interval", HEARTBEAT_SECONDS)
        # an idle worker waits worker_ttl - 15 s for a job before its next maintenance
        kwargs.setdefault("worker_ttl", MAINTENANCE_SECONDS + 15)
        super().__init__(queues, **kwargs)
        self._next_beat = 0.0  # monotonic time of the next standalone heartbeat
        self._job_beats = JobBeats(self._beat, HEARTBEAT_SECONDS)
        self._prepared: str | None = None  # the job `_prepare` prepared, until it starts

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return ABANDONED_AFTER_SECONDS

    def clean_registries(self) -> None:
        """RQ's maintenance of each queue's registries, except that the started registry is left
        to `requeue_abandoned`: RQ's clean-up of it fails every job whose heartbeat has lapsed.
        Run after `requeue_abandoned`, it failed a job whose heartbeat lapsed between the two
        reads, and a job whose end a Redis restart had lost was never run again (one suite run
        in five on a busy machine: the maintenance after the restart falls within a second of
        that job's lapse)."""
        for queue in self.queues:
            requeue_abandoned(queue)
            if queue.acquire_maintenance_lock():  # the rest, one worker at a time
                self.log.info("Worker %s: cleaning registries for queue: %s", self.name, queue.name)
                _clean_other_registries(queue)
                worker_registration.clean_worker_registry(queue)
                requeue_stuck(queue)
                queue.release_maintenance_lock()  # type: ignore[no-untyped-call]
        self.last_cleaned_at = now()  # type: ignore[assignment]  # RQ declares it as None

    # RQ's loop quits the worker on any Redis error outside its wait for a job (and its clean-up
    # then raises again while Redis is away): the process would exit on every Redis restart.
    # Each step of the loop rides a Redis outage out instead; the wait for the next job backs
    # off until Redis answers again.

    def execute_job(self, job: Job, queue: Queue) -> None:
        with _riding_out(f"job {job.id}"):
            # a job that ran but whose end could not be written stays started: its heartbeat
            # lapses and it is re-queued like a dead worker's, and the re-run finds it done
            self._execute_job(job, queue)

    def run_maintenance_tasks(self) -> None:
        with _riding_out("maintenance"):
            super().run_maintenance_tasks()  # type: ignore[no-untyped-call]

    def check_for_suspension(self, burst: bool) -> None:
        with _riding_out("the suspension check"):
            super().check_for_suspension(burst)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's, in one round trip, and at most every `WORKER_BEAT_SECONDS` outside a job's
        bookkeeping: RQ beats before and after every wait for a job and after every job, three
        round trips each, one of them between a job's dequeue and its start. A beat written
        with a job's bookkeeping (`pipeline`) is written as RQ writes it."""
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)
            return
        if timeout is None and time.monotonic() < self._next_beat:
            return
        with _riding_out("the worker's heartbeat"):
            with self.connection.pipeline(transaction=False) as beat:
                super().heartbeat(timeout, beat)
                beat.execute()
            self._next_beat = time.monotonic() + WORKER_BEAT_SECONDS

    def set_state(self, state: str, pipeline: Any = None) -> None:
        """RQ's, less a write of the state already written: RQ writes IDLE after every job
        and again before the wait for the next."""
        if pipeline is None and state == self.get_state():
            return
        with _riding_out(f"recording the worker's state {state}"):
            super().set_state(state, pipeline)

    def _execute_job(self, job: Job, queue: Queue) -> None:
        """SimpleWorker's, with the heartbeat renewed while the job runs (`JobBeats`)."""
        execution = self._prepare(job)
        self._job_beats.begin(job, execution)
        try:
            self.perform_job(job, queue, execution)
        finally:
            self._job_beats.end()
        self.set_state(WorkerStatus.IDLE)

    def _prepare(self, job: Job) -> Execution:
        """RQ's `prepare_execution` and `prepare_job_execution` (RQ 3.0) in one round trip
        instead of two, both between the job's dequeue and its start."""
        with self.connection.pipeline() as pipeline:
            ttl = self.get_heartbeat_ttl(job)
            execution = Execution.create(job, ttl, pipeline=pipeline, worker_name=self.name)
            self.executions[execution.id] = execution
            self.set_state(WorkerStatus.BUSY, pipeline=pipeline)
            self.heartbeat(ttl, pipeline=pipeline)
            job.heartbeat(now(), ttl, pipeline=pipeline)
            job.prepare_for_execution(self.name, pipeline=pipeline)
            pipeline.persist(job.key)
            if len(self.queues) == 1:  # as `perform_job` tells `prepare_job_execution`
                pipeline.lrem(self.queues[0].intermediate_queue_key, 1, job.id)
            pipeline.execute()
        self._prepared = job.id
        return execution

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """Done by `_prepare` for the job it prepared; RQ's for any other."""
        if self._prepared == job.id:
            self._prepared = None
            return
        super().prepare_job_execution(job, remove_from_intermediate_queue)

    def teardown(self) -> None:
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        finally:
            self._job_beats.close()

    def _beat(self, job: Job, execution: Execution) -> None:
        try:
            self.maintain_heartbeats(job, execution)
        except RedisError as error:  # the next beat tries again; the TTL spans a few misses
            log.warning("job %s: heartbeat failed: %s", job.id, error)

    def subscribe(self) -> None:
        """RQ's command channel, read by a thread that waits at most `COMMAND_WAIT_SECONDS` per
        read. RQ's own waits 60 s, and redis-py 8 joins that thread when the worker stops: a
        worker whose unsubscribe raced the thread's read took a minute to exit, longer than the
        30 s Heroku gives after SIGTERM."""
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=COMMAND_WAIT_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )


def _clean_other_registries(queue: Queue) -> None:
    """`rq.registry.clean_registries` (RQ 3.0) less its clean-up of the started registry."""
    for registry in (
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.deferred_job_registry,
        queue.ready_job_registry,
    ):
        registry.cleanup()
    for rate_limits in RateLimitRegistry.all(queue.connection):
        rate_limits.cleanup()


@contextlib.contextmanager
def _riding_out(what: str) -> Iterator[None]:
    try:
        yield
    except RedisError as error:
        log.warning("worker: %s failed, Redis is unreachable (%s); waiting for it", what, error)


def wait_for_redis(connection: redis.Redis, sleep: Callable[[float], None] = time.sleep) -> None:
    """Return once Redis answers, asking again with a growing pause (at most 5 s)."""
    pause = 0.25
    while True:
        try:
            connection.ping()
        except RedisError as error:
            log.warning("worker: Redis does not answer (%s); asking again in %.2f s", error, pause)
            sleep(pause)
            pause = min(pause * 2, 5.0)
        else:
            return
