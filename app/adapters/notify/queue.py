"""Events onto the `notifications` RQ queue, off the caller's path.

`RqNotifier.notify` only puts the event in a bounded in-process queue and returns: a thread of
its own enqueues the jobs (`workers.notify.send_notification(channel, event)`, one per channel
that hears the event, with RQ's `Retry` and a deterministic job id per channel and event, so
that an event seen twice is sent once). Redis slow or down therefore never slows or fails a
trade: what cannot be queued is logged and dropped. `close` (at a process's end) queues what is
still waiting, for a few seconds at most.

An event of an account goes to the account's own channels too: the thread asks `account_routes`
which of them hear it (a read of the database, cached; never on the caller's path) and queues a
job per channel with `account` set.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job
from rq.serializers import JSONSerializer

from app.domain.notifications import (
    Event,
    EventKind,
    Routes,
    accounts_of,
    channel_label,
    event_key,
    kind_of,
)
from app.ports.notifications import AccountRoutes

log = logging.getLogger("signalgate.notify")

NOTIFICATIONS_QUEUE = "notifications"
SEND = "workers.notify.send_notification"
SUMMARY = "workers.notify.send_daily_summary"
RETRY_INTERVALS = (10, 30, 120, 300, 900)  # seconds before each retry of a failed send
JOB_TIMEOUT = 90  # one send takes at most apprise's 30 s budget
BATCH = 100
CAPACITY = 1000  # events waiting for the thread at most; more are dropped (said so)

_Item = tuple[int, str | None, str, dict[str, Any]]  # channel, its account, event key, event


class _Told(msgspec.Struct, frozen=True):
    """An event handed over: the thread makes its jobs."""

    key: str
    data: dict[str, Any]
    kind: EventKind
    channels: tuple[int, ...]  # NOTIFY_URLS' that hear it
    accounts: tuple[str, ...]  # whose own channels may hear it


def job_id(channel: int, key: str, account: str | None = None) -> str:
    return f"notify-{channel_label(channel, account)}-{key}"


def _send_args(channel: int, data: dict[str, Any], account: str | None) -> dict[str, Any]:
    """The send job's arguments: an account's channel names its account (a global one does not,
    as before accounts had channels)."""
    return {"args": (channel, data), "kwargs": {} if account is None else {"account": account}}


def _send_options(retry_intervals: Sequence[int]) -> dict[str, Any]:
    """What every send job is queued with: its time limit, how long RQ keeps it, its retries."""
    return {
        "timeout": JOB_TIMEOUT,
        "result_ttl": 86_400,
        "failure_ttl": 7 * 86_400,
        "retry": Retry(max=len(retry_intervals), interval=list(retry_intervals))
        if retry_intervals
        else None,
    }


def notifications_queue(client: redis.Redis, name: str = NOTIFICATIONS_QUEUE) -> Queue:
    return Queue(name, connection=client, serializer=JSONSerializer)


class RqNotifier:
    """`Notifier` onto the RQ queue, through a thread (see the module's docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        routes: Routes,
        *,
        queue_name: str = NOTIFICATIONS_QUEUE,
        retry_intervals: Sequence[int] = RETRY_INTERVALS,
        capacity: int = CAPACITY,
        account_routes: AccountRoutes | None = None,
    ) -> None:
        self.queue = notifications_queue(client, queue_name)
        self._routes = routes
        # where accounts' own channels are read; None: no account has any (SECRETS_KEY unset)
        self.account_routes = account_routes
        self._retry = tuple(retry_intervals)
        self._waiting: queue.Queue[_Told | None] = queue.Queue(capacity)
        self._thread: threading.Thread | None = None
        self._started = threading.Lock()
        self._dropped = 0  # events dropped since the buffer was last found full

    def notify(self, event: Event) -> None:
        channels = self._routes.of(event)
        accounts = accounts_of(event) if self.account_routes is not None else ()
        if not channels and not accounts:
            return
        key = event_key(event)
        told = _Told(key, msgspec.to_builtins(event), kind_of(event), channels, accounts)
        try:
            self._waiting.put_nowait(told)
        except queue.Full:
            self._dropped += 1
            if self._dropped == 1:  # once a spell: a burst would print a line per event
                log.warning("notifications dropped from %s on: %d are waiting to be queued"
                            " (is Redis reachable?)", key, self._waiting.maxsize)  # fmt: skip
            return
        if self._dropped:
            log.warning("%d notification(s) were dropped while the hand-over was full",
                        self._dropped)  # fmt: skip
            self._dropped = 0
        self._start()

    def _start(self) -> None:
        with self._started:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._waiting.get()
            batch = [first]
            while len(batch) < BATCH:
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            told = [item for item in batch if item is not None]
            if told:
                self.enqueue([job for each in told for job in self._jobs(each)])
            for _ in batch:
                self._waiting.task_done()
            if len(told) < len(batch):  # closed
                return

    def _jobs(self, told: _Told) -> list[_Item]:
        """The channels that hear `told`: NOTIFY_URLS', then its accounts' own."""
        items: list[_Item] = [(channel, None, told.key, told.data) for channel in told.channels]
        routing = self.account_routes
        if routing is None:
            return items
        for account in told.accounts:
            try:
                heard = routing.routes(account).to(told.kind)
            except Exception:  # a bug here must not stop the thread that tells every event
                log.exception("notification %s: account %s's own channels not found", told.key,
                              account)  # fmt: skip
                continue
            items += [(channel, account, told.key, told.data) for channel in heard]
        return items

    def enqueue(self, items: Sequence[_Item]) -> None:
        """Queue a job per item not queued yet (blocking; failures logged, never raised)."""
        jobs = {job_id(channel, key, account): (channel, account, key, data)
                for channel, account, key, data in items}  # fmt: skip
        if not jobs:
            return
        try:
            pipe = self.queue.connection.pipeline(transaction=False)
            for name in jobs:
                pipe.exists(Job.key_for(name))
            found = pipe.execute()
            self.queue.enqueue_many(
                [
                    Queue.prepare_data(
                        SEND,
                        **_send_args(channel, data, account),
                        job_id=name,
                        description=f"notify channel {channel_label(channel, account)}: {key}",
                        **_send_options(self._retry),
                    )
                    for (name, (channel, account, key, data)), exists in zip(
                        jobs.items(), found, strict=True
                    )
                    if not exists
                ]
            )
        except (RedisError, OSError) as error:
            log.warning("%d notification(s) not queued, Redis unreachable (%s): dropped",
                        len(jobs), error)  # fmt: skip

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event handed over is queued (or dropped); False after `timeout`."""
        deadline = time.monotonic() + timeout
        while self._waiting.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Queue what is waiting (for `timeout` at most), then stop the thread."""
        if self._thread is None:
            return
        if not self.flush(timeout):
            log.warning("%d notification(s) still waiting at exit: dropped",
                        self._waiting.unfinished_tasks)  # fmt: skip
        try:
            self._waiting.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)


class RqDeferrals:
    """`Deferrals`: the send job again, at its slot, marked as admitted."""

    def __init__(self, target: Queue, retry_intervals: Sequence[int] = RETRY_INTERVALS) -> None:
        self._queue = target
        self._retry = tuple(retry_intervals)

    def defer(self, channel: int, event: Event, at: float, account: str | None = None) -> None:
        key = event_key(event)
        sent = _send_args(channel, msgspec.to_builtins(event), account)
        self._queue.enqueue_at(
            datetime.fromtimestamp(at, UTC),
            SEND,
            args=sent["args"],
            kwargs={**sent["kwargs"], "admitted": True},
            job_id=f"{job_id(channel, key, account)}-at-{int(at * 1000)}",
            description=f"notify channel {channel_label(channel, account)}: {key} (its turn)",
            **_send_options(self._retry),
        )
