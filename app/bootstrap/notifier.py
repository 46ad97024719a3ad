"""The `notifier` process: an RQ worker of the `notifications` queue that sends what trading
processes hand over (`app.bootstrap.notifications.build_notifier`).

The notifier is a process of its own, not the signal worker listening to a second queue: a
channel that answers slowly (apprise gives each send up to 30 s) would hold a worker that
should be executing a signal. It also sends the daily summary (a scheduled job that schedules
the next one) and watches the monitor's and the forwarder's heartbeats (`HeartbeatWatch`).

An account's own channels are read from the database for each of their sends and opened under
SECRETS_KEY (kept open while their sealed token is the same); their secrets are hidden from the
process's log from then on, like NOTIFY_URLS'.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import msgspec
import redis
from rq import Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer
from sqlalchemy import Engine

from app.adapters.notify.channels import AppriseChannels, ChannelError, channel_secrets
from app.adapters.notify.deliveries import RedisDeliveries, RedisWatched
from app.adapters.notify.queue import (
    RETRY_INTERVALS,
    SUMMARY,
    RqDeferrals,
    RqNotifier,
    notifications_queue,
)
from app.adapters.sql.accounts import SqlAccountStore
from app.adapters.sql.summary import SqlSummarySource
from app.bootstrap.connections import cipher_of
from app.bootstrap.database import process_engine
from app.bootstrap.logs import configure_logging, hide_in_logs
from app.bootstrap.redis_clients import sync_redis
from app.bootstrap.rq_worker import SignalWorker, wait_for_redis
from app.config.settings import Settings, load_settings
from app.domain.notifications import Event, EventKind, event_key, next_summary
from app.ports.connections import Cipher
from app.ports.notifications import Channels
from app.services.account_channels import open_urls
from app.services.notifications import (
    MAX_WAIT_SECONDS,
    HeartbeatWatch,
    NotificationSender,
    daily_summary,
)

__all__ = ["ChannelError", "notifier_runtime", "run_notifier"]

log = logging.getLogger("signalgate.notify")

# the monitor or the forwarder is told down after this long without life, at least (a restart
# on a deploy or Heroku's daily one takes a few seconds: not worth a message)
MIN_SILENCE_SECONDS = 30.0


def schedule_summary(queue: Queue, end: datetime) -> bool:
    """The summary of the 24 hours up to `end`, sent at `end`; False when it is scheduled already
    (one job per summary, however many notifiers start)."""
    try:
        queue.enqueue_at(
            end,
            SUMMARY,
            args=(end.isoformat(),),
            job_id=f"notify-summary-{end:%Y%m%dT%H%M}",
            unique=True,
            description=f"daily summary to {end:%Y-%m-%d %H:%M} UTC",
            result_ttl=7 * 86_400,
            failure_ttl=7 * 86_400,
            retry=Retry(max=3, interval=[60, 300, 900]),
        )
    except DuplicateJobError:
        return False
    return True


class StoredAccountChannels:
    """`AccountChannelBook`: each account's channels as kept now, opened under SECRETS_KEY."""

    def __init__(
        self, store: SqlAccountStore, cipher: Cipher | None, endpoints: Mapping[str, str]
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._endpoints = endpoints
        self._opened: dict[str, tuple[str, AppriseChannels]] = {}  # account -> (token, theirs)
        self._lock = threading.Lock()

    def channels(self, account: str) -> Channels:
        token = self._store.sealed_channels(account)
        if token is None:
            return AppriseChannels(())
        with self._lock:
            kept = self._opened.get(account)
            if kept is not None and kept[0] == token:
                return kept[1]
            urls = open_urls(self._cipher, token, account)
            hide_in_logs(urls)
            hide_in_logs(channel_secrets(urls))
            opened = AppriseChannels(urls, self._endpoints, source=f"account {account}'s URLs")
            self._opened[account] = (token, opened)
            return opened


@dataclass(eq=False)
class NotifierRuntime:
    """One per notifier process: the channels and what the jobs need."""

    settings: Settings
    client: redis.Redis
    endpoints: Mapping[str, str] = field(default_factory=dict)
    retry_intervals: Sequence[int] = RETRY_INTERVALS

    @cached_property
    def notifier(self) -> RqNotifier:
        """Where the summary and the monitor's changes go: the queue, like every event."""
        routes = self.settings.notify.routes
        return RqNotifier(self.client, routes, retry_intervals=self.retry_intervals)

    @cached_property
    def sender(self) -> NotificationSender:
        notify = self.settings.notify
        return NotificationSender(
            channels=AppriseChannels(notify.urls, self.endpoints),
            deliveries=RedisDeliveries(
                self.client, per_minute=notify.per_minute, max_wait_seconds=MAX_WAIT_SECONDS
            ),
            deferrals=RqDeferrals(self.notifier.queue, self.retry_intervals),
            accounts=StoredAccountChannels(
                SqlAccountStore(self.engine), cipher_of(self.settings), self.endpoints
            ),
            per_minute=notify.per_minute,
        )

    @cached_property
    def engine(self) -> Engine:
        return process_engine(self.settings, background_checkpoints=False)  # it only reads

    def send(
        self, channel: int, data: dict[str, Any], *, admitted: bool, account: str | None = None
    ) -> str:
        job = get_current_job()
        last = job is None or not job.retries_left
        event = msgspec.convert(data, Event)
        return self.sender.send(channel, event, account=account, admitted=admitted, last=last)

    def summary(self, end: datetime) -> str:
        """Send the summary of the 24 hours up to `end`; schedule the next one at
        `NOTIFY_SUMMARY_AT` as set now (a job scheduled before the setting changed sends once
        more), unless no channel hears summaries any more."""
        event = daily_summary(SqlSummarySource(self.engine), end)
        self.notifier.notify(event)
        self.notifier.flush()
        notify = self.settings.notify
        if notify.routes.to(EventKind.SUMMARY):
            schedule_summary(self.notifier.queue, next_summary(end, notify.summary_at))
        return event_key(event)

    def watches(self) -> list[HeartbeatWatch]:
        """The monitor's (silent for 10 rounds) and the forwarder's (it beats every second),
        each told after MIN_SILENCE_SECONDS at least."""
        limits = {"monitor": 10 * self.settings.monitor_interval_seconds, "forwarder": 0.0}
        watched = RedisWatched(self.client)
        return [
            HeartbeatWatch(process=process, watched=watched, notifier=self.notifier,
                           limit_seconds=max(limit, MIN_SILENCE_SECONDS))
            for process, limit in limits.items()
        ]  # fmt: skip

    def close(self) -> None:
        if "notifier" in self.__dict__:
            self.notifier.close()
        if "engine" in self.__dict__:
            self.engine.dispose()


_runtime: NotifierRuntime | None = None


def notifier_runtime(
    settings: Settings | None = None,
    *,
    endpoints: Mapping[str, str] | None = None,
    retry_intervals: Sequence[int] = RETRY_INTERVALS,
) -> NotifierRuntime:
    """This process's runtime, built on first use (`run_notifier` builds it before its first
    job; `endpoints` and `retry_intervals` point the channels at local fakes in tests)."""
    global _runtime  # noqa: PLW0603 - one runtime per notifier process, by design
    if _runtime is None:
        settings = settings or load_settings()
        if settings.redis_url is None:
            raise RuntimeError("REDIS_URL is not set: run `signalgate run` or set REDIS_URL.")
        _runtime = NotifierRuntime(
            settings, sync_redis(settings.redis_url), dict(endpoints or {}), retry_intervals
        )
    return _runtime


def end_runtime() -> None:
    global _runtime  # noqa: PLW0603
    if _runtime is not None:
        _runtime.close()
        _runtime = None


def _watch(runtime: NotifierRuntime, stop: threading.Event) -> None:
    watches = runtime.watches()
    while not stop.wait(min(watch.limit_seconds for watch in watches) / 3):
        for watch in watches:
            try:
                watch.check()
            except Exception:
                log.exception(
                    "notifier: the %s's heartbeat could not be read; trying again", watch.process
                )


def run_notifier(settings: Settings, *, burst: bool = False) -> bool:
    """Send notifications until stopped (or, with `burst`, until the queue is empty)."""
    assert settings.redis_url is not None
    # what apprise marks private in each URL too (bot tokens, webhook tokens, passwords)
    configure_logging(settings, channel_secrets(settings.notify.urls))
    runtime = notifier_runtime(settings)
    runtime.sender  # noqa: B018 - the channels checked before the first job
    connection = redis.Redis.from_url(settings.redis_url)
    stop = threading.Event()
    try:
        wait_for_redis(connection)
        queue = notifications_queue(connection)
        if settings.notify.routes.to(EventKind.SUMMARY):
            schedule_summary(queue, next_summary(datetime.now(UTC), settings.notify.summary_at))
        if not burst:
            threading.Thread(target=_watch, args=(runtime, stop), name="watch", daemon=True).start()
        worker = SignalWorker([queue], connection=connection, serializer=JSONSerializer)
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level))
    finally:
        stop.set()
        end_runtime()
