"""Sending notifications: the jobs of the `notifications` queue, run by the notifier process.

Trading processes only hand events over (`Notifier`); everything slow happens here, off the
execution path: the channel's rate limit (a message over it waits for its slot, or is dropped
when that would take longer than `max_wait_seconds`; an urgent one goes at once), the text, the
send, and its outcome counted for /metrics. A send the channel refuses or does not answer
raises `DeliveryFailed`, so that RQ tries the job again later (its `Retry`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from app.domain.brackets.notices import summary
from app.domain.heartbeats import silent_for
from app.domain.notifications import (
    ChannelTest,
    DailySummary,
    Event,
    ForwarderChanged,
    Level,
    MonitorChange,
    MonitorChanged,
    Routes,
    event_key,
)
from app.domain.notify_text import render
from app.domain.performance import performance
from app.ports.notifications import (
    Channels,
    Deferrals,
    Deliveries,
    Notifier,
    SummarySource,
    Watched,
)
from app.ports.performance import TradeQuery

log = logging.getLogger("signalgate.notify")

MAX_WAIT_SECONDS = 600.0  # a message that would wait longer behind the rate limit is dropped
EARLY_SECONDS = 1.0  # a slot this close is taken now


class DeliveryFailed(Exception):
    """The channel refused the message or did not answer: the job is tried again."""


@dataclass(kw_only=True, eq=False)
class NotificationSender:
    channels: Channels
    deliveries: Deliveries
    deferrals: Deferrals
    per_minute: int = 20
    max_wait_seconds: float = MAX_WAIT_SECONDS
    clock: Callable[[], float] = time.time

    def send(self, channel: int, event: Event, *, admitted: bool = False, last: bool = True) -> str:
        """Send `event` on `channel`; its outcome: `sent`, `deferred` (it waits for its slot),
        `dropped` or `duplicate` (sent already). `admitted`: its slot was taken when it was
        deferred. `last`: no retry follows a failure.

        Raises:
            DeliveryFailed: the channel refused it or did not answer.
        """
        key = event_key(event)
        if channel >= len(self.channels):
            log.warning("notification %s for channel %d dropped: NOTIFY_URLS has %d channels now",
                        key, channel, len(self.channels))  # fmt: skip
            return "dropped"
        service = self.channels.service(channel)
        message = render(event)
        if not admitted:
            now = self.clock()
            slot = self.deliveries.admit(channel, now, urgent=message.level is Level.FAILURE)
            if slot is None:
                log.warning("notification %s to channel %d (%s) dropped: it would wait over %.0f"
                            " s for its turn (NOTIFY_RATE_PER_MINUTE=%d)", key, channel, service,
                            self.max_wait_seconds, self.per_minute)  # fmt: skip
                self.deliveries.count(channel, service, "dropped")
                return "dropped"
            if slot.at > now + EARLY_SECONDS:
                self.deferrals.defer(channel, event, slot.at)
                self.deliveries.count(channel, service, "deferred")
                return "deferred"
        if not self.deliveries.claim(channel, key):  # told twice at once, or again later
            log.info("notification %s to channel %d (%s) was sent already", key, channel,
                     service)  # fmt: skip
            self.deliveries.count(channel, service, "duplicate")
            return "duplicate"
        if self.channels.send(channel, message):
            self.deliveries.count(channel, service, "sent")
            log.info("notification %s sent to channel %d (%s)", key, channel, service)
            return "sent"
        self.deliveries.release(channel, key)
        self.deliveries.count(channel, service, "failed" if last else "retried")
        then = "given up" if last else "tried again later"
        log.warning("notification %s to channel %d (%s) was not delivered; %s", key, channel,
                    service, then)  # fmt: skip
        raise DeliveryFailed(f"channel {channel} ({service}) did not take notification {key}")


def ask_test_message(
    notifier: Notifier, routes: Routes, channel: int, at: datetime, by: str
) -> bool:
    """Hand a test message for `channel` over (the notifier process sends it like any event);
    False when there is no such channel."""
    event = ChannelTest(channel=channel, at=at, by=by)
    if not routes.of(event):
        return False
    notifier.notify(event)
    log.info("a test message to channel %d was asked for from the %s", channel, by)
    return True


def daily_summary(source: SummarySource, end: datetime) -> DailySummary:
    """The summary of the 24 hours up to `end`."""
    start = end - timedelta(days=1)
    counts = {status: count for status, count in source.signal_counts(start, end).items() if count}
    made = summary(start, end, counts, source.closed_brackets(start, end), source.open_brackets())
    trades = source.closed_trades(TradeQuery(since=start, until=end))
    return msgspec.structs.replace(made, strategies=tuple(performance(trades)))


@dataclass(kw_only=True, eq=False)
class HeartbeatWatch:
    """Tells when `process` (the monitor or the forwarder) has shown no life for
    `limit_seconds` (the rule of `/ready`, with a longer limit), and when it does again; a
    deployment where it never ran is not flagged."""

    process: str  # "monitor" or "forwarder"
    watched: Watched
    notifier: Notifier
    limit_seconds: float
    clock: Callable[[], float] = time.time

    def check(self) -> MonitorChange | None:
        """Look once; the change told, if any."""
        last = self.watched.last_beat(self.process)
        if last is None:
            return None
        age = self.clock() - last
        down = age > self.limit_seconds
        before = self.watched.swap(self.process, "down" if down else "up")
        if down and before != "down":
            change = MonitorChange.DOWN
            detail = silent_for(self.process, age, self.limit_seconds)
        elif not down and before == "down":
            change, detail = MonitorChange.BACK, f"the {self.process} runs again"
        else:
            return None
        at = datetime.fromtimestamp(self.clock(), UTC)
        event_type = MonitorChanged if self.process == "monitor" else ForwarderChanged
        self.notifier.notify(event_type(change=change, detail=detail, at=at))
        return change
