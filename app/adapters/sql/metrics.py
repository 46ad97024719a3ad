"""The figures of `/metrics`, read at scrape time from SQL and from RQ's keys in Redis (the
execution figures in `metrics_execution`)."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from rq import Queue
from rq.job import Job
from rq.registry import BaseRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import Engine, func, select

from app.adapters.notify.deliveries import outcomes
from app.adapters.notify.queue import notifications_queue
from app.adapters.redis import venue_health
from app.adapters.redis.errors import unavailable
from app.adapters.redis.forwarder_beat import last_beat_sync
from app.adapters.redis.lease import last_round_sync
from app.adapters.sql.db import transaction
from app.adapters.sql.metrics_execution import SqlExecutionMetrics
from app.adapters.sql.reconciliation import reconciliation_figures
from app.adapters.sql.tables import signals
from app.adapters.sql.tables_execution import brackets, orders
from app.domain.brackets.bracket import FINAL
from app.domain.orders import OrderState
from app.domain.signals import SignalStatus
from app.ports.metrics import MetricsSnapshot

_LAST_ROUND = "monitor_last_round_timestamp_seconds"
_LAST_BEAT = "forwarder_last_beat_timestamp_seconds"
LATENCY_WINDOW = 200  # finished jobs whose latency is shown: bounded, so a scrape stays cheap


class SqlRedisMetrics:
    """`MetricsSource` over the SQL engine and a synchronous Redis client.

    Only reads: RQ's registry clean-ups (which fail or re-queue abandoned jobs) are left to the
    workers, so a scrape never changes what it measures.
    """

    def __init__(
        self,
        engine: Engine,
        client: redis.Redis,
        queue_name: str,
        latency_window: int = LATENCY_WINDOW,
    ) -> None:
        self._engine = engine
        self._queue = Queue(queue_name, connection=client, serializer=JSONSerializer)
        self._notifications = notifications_queue(client)
        self._latency_window = latency_window
        self._execution = SqlExecutionMetrics(engine)

    def collect(self) -> MetricsSnapshot:
        by_status = self._signals_by_status()
        execution = self._execution.read(datetime.now(UTC))
        with unavailable("Redis unreachable"):
            depth, jobs, latencies = self._rq_figures()
            last_round = last_round_sync(self._queue.connection)
            last_beat = last_beat_sync(self._queue.connection)
            venues = venue_health.read(self._queue.connection)
            notifications = int(self._notifications.count), outcomes(self._queue.connection)
        return MetricsSnapshot(
            signals_by_status=by_status,
            queue_depth={self._queue.name: depth, self._notifications.name: notifications[0]},
            jobs_by_state=jobs,
            job_latencies_seconds=latencies,
            orders_by_state=execution.orders_by_state,
            brackets_by_state=execution.brackets_by_state,
            brackets_unprotected=execution.brackets_unprotected,
            decisions=execution.decisions,
            trading_state=execution.trading_state,
            execution_latencies_seconds=execution.latencies_seconds,
            extra={
                "orders_in_doubt": {"": float(self._orders_in_doubt())},
                # absent until a monitor finished a round (a forwarder beat): no series rather
                # than a 1970 timestamp
                **({} if last_round is None else {_LAST_ROUND: {"": last_round}}),
                **({} if last_beat is None else {_LAST_BEAT: {"": last_beat}}),
                **reconciliation_figures(self._engine),
                **execution.by_account,
                "venue_up:venue": {name: float(h.up) for name, h in venues.items()},
                "venue_requests_total:venue": {n: float(h.requests) for n, h in venues.items()},
                # with the budget a minute: rate(budget used) * 60 / budget = the share used
                "venue_request_budget_used_total:venue": {
                    n: float(h.budget_used) for n, h in venues.items() if h.budget_per_minute
                },
                "venue_request_budget_per_minute:venue": {
                    n: h.budget_per_minute for n, h in venues.items() if h.budget_per_minute
                },
                "venue_request_errors_total:venue,class": {
                    f"{name},{kind}": float(count)
                    for name, h in venues.items()
                    for kind, count in h.errors.items()
                },
            },
            counters={"notifications:channel,service,outcome": notifications[1]},
        )

    def _orders_in_doubt(self) -> int:
        """Orders of open brackets sent without an answer and unknown to the venue since: each
        holds its account and symbol's entries back until it is found or resolved."""
        query = (
            select(func.count())
            .select_from(orders.join(brackets, brackets.c.id == orders.c.bracket_id))
            .where(
                orders.c.state == OrderState.UNKNOWN.value,
                orders.c.order_id.is_(None),
                brackets.c.state.not_in([s.value for s in FINAL]),
            )
        )
        with transaction(self._engine) as conn:
            return int(conn.execute(query).scalar_one())

    def _signals_by_status(self) -> dict[str, int]:
        # every known status, zero included, so that a series exists before its first signal
        counts = {status.value: 0 for status in SignalStatus}
        query = select(signals.c.status, func.count()).group_by(signals.c.status)
        with transaction(self._engine) as conn:
            for status, count in conn.execute(query).all():
                counts[status] = int(count)
        return counts

    def _rq_figures(self) -> tuple[int, dict[str, int], tuple[float, ...]]:
        queue = self._queue
        registries: dict[str, BaseRegistry] = {
            "started": queue.started_job_registry,
            "failed": queue.failed_job_registry,
            "deferred": queue.deferred_job_registry,
            "scheduled": queue.scheduled_job_registry,
        }
        jobs = {state: int(r.get_job_count(cleanup=False)) for state, r in registries.items()}
        return int(queue.count), jobs, self._latencies()

    def _latencies(self) -> tuple[float, ...]:
        """ended_at - enqueued_at of the most recently finished jobs.

        The finished registry is scored by expiry (end + result_ttl), so the highest scores are
        the latest ends while jobs share one result_ttl, as ours do.
        """
        finished = self._queue.finished_job_registry
        ids = finished.get_job_ids(0, self._latency_window - 1, desc=True, cleanup=False)
        found = Job.fetch_many(ids, connection=self._queue.connection, serializer=JSONSerializer)
        latencies = []
        for job in found:
            if job is None or job.enqueued_at is None or job.ended_at is None:
                continue  # expired between the two reads, or finished by an older RQ
            latencies.append(max(0.0, (job.ended_at - job.enqueued_at).total_seconds()))
        return tuple(latencies)
