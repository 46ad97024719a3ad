"""Sending notifications: the jobs of the `notifications` queue, run by the notifier process.

Trading processes only hand events over (`Notifier`); everything slow happens here, off the
execution path: the channel's rate limit (a message over it waits for its slot, or is dropped
when that would take longer than `max_wait_seconds`; an urgent one goes at once), the text, the
send, and its outcome counted for /metrics. A send the channel refuses or does not answer
raises `DeliveryFailed`, so that RQ tries the job again later (its `Retry`). An account's own
channel (`account` set) is opened from where it is kept for its send, and is rate-limited,
claimed and counted by its label (`main-0`) like NOTIFY_URLS' (`0`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    MonitorChanged,
    ProcessChange,
    Routes,
    channel_label,
    event_key,
)
from app.domain.notify_text import render
from app.domain.performance import performance
from app.ports.errors import SecretsUnreadable
from app.ports.notifications import (
    AccountChannelBook,
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


class _NoAccountChannels:
    def channels(self, account: str) -> Channels:
        raise SecretsUnreadable(f"account {account}'s channels cannot be read by this process")


@dataclass(kw_only=True, eq=False)
class NotificationSender:
    channels: Channels
    deliveries: Deliveries
    deferrals: Deferrals
    accounts: AccountChannelBook = field(default_factory=_NoAccountChannels)
    per_minute: int = 20
    max_wait_seconds: float = MAX_WAIT_SECONDS
    clock: Callable[[], float] = time.time

    def send(
        self,
        channel: int,
        event: Event,
        *,
        account: str | None = None,
        admitted: bool = False,
        last: bool = True,
    ) -> str:
        """Send `event` on `channel` (NOTIFY_URLS', or `account`'s own); its outcome: `sent`,
        `deferred` (it waits for its slot), `dropped` or `duplicate` (sent already).
        `admitted`: its slot was taken when it was deferred. `last`: no retry follows a failure.

        Raises:
            DeliveryFailed: the channel refused it or did not answer.
        """
        key = event_key(event)
        label = channel_label(channel, account)
        where = f"channel {channel}" + ("" if account is None else f" of account {account}")
        channels = self._channels(account, key, label, where)
        if channels is None:
            return "dropped"
        if channel >= len(channels):
            whose = "NOTIFY_URLS has" if account is None else f"account {account} has"
            log.warning("notification %s for %s dropped: %s %d channels now", key, where, whose,
                        len(channels))  # fmt: skip
            return "dropped"
        service = channels.service(channel)
        where = f"{where} ({service})"
        message = render(event)
        if not admitted:
            now = self.clock()
            slot = self.deliveries.admit(label, now, urgent=message.level is Level.FAILURE)
            if slot is None:
                log.warning("notification %s to %s dropped: it would wait over %.0f s for its"
                            " turn (NOTIFY_RATE_PER_MINUTE=%d)", key, where, self.max_wait_seconds,
                            self.per_minute)  # fmt: skip
                self.deliveries.count(label, service, "dropped")
                return "dropped"
            if slot.at > now + EARLY_SECONDS:
                self.deferrals.defer(channel, event, slot.at, account)
                self.deliveries.count(label, service, "deferred")
                return "deferred"
        if not self.deliveries.claim(label, key):  # told twice at once, or again later
            log.info("notification %s to %s was sent already", key, where)
            self.deliveries.count(label, service, "duplicate")
            return "duplicate"
        if channels.send(channel, message):
            self.deliveries.count(label, service, "sent")
            log.info("notification %s sent to %s", key, where)
            return "sent"
        self.deliveries.release(label, key)
        self.deliveries.count(label, service, "failed" if last else "retried")
        then = "given up" if last else "tried again later"
        log.warning("notification %s to %s was not delivered; %s", key, where, then)
        raise DeliveryFailed(f"{where} did not take notification {key}")

    def _channels(self, account: str | None, key: str, label: str, where: str) -> Channels | None:
        """NOTIFY_URLS' channels, or `account`'s own as kept now; None when they cannot be
        opened (logged, and counted as failed: retrying will not open them)."""
        if account is None:
            return self.channels
        try:
            return self.accounts.channels(account)
        except (SecretsUnreadable, ValueError) as error:
            log.warning("notification %s to %s not sent: %s", key, where, error)
            self.deliveries.count(label, "unknown", "failed")
            return None


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

    def check(self) -> ProcessChange | None:
        """Look once; the change told, if any."""
        last = self.watched.last_beat(self.process)
        if last is None:
            return None
        age = self.clock() - last
        down = age > self.limit_seconds
        before = self.watched.swap(self.process, "down" if down else "up")
        if down and before != "down":
            change = ProcessChange.DOWN
            detail = silent_for(self.process, age, self.limit_seconds)
        elif not down and before == "down":
            change, detail = ProcessChange.BACK, f"the {self.process} runs again"
        else:
            return None
        at = datetime.fromtimestamp(self.clock(), UTC)
        event_type = MonitorChanged if self.process == "monitor" else ForwarderChanged
        self.notifier.notify(event_type(change=change, detail=detail, at=at))
        return change
