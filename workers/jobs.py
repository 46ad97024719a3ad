"""RQ job entry points: primitive arguments in, one service call, a plain value out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.bootstrap.worker import process_runtime


def execute_signal(signal_id: str) -> str:
    """Execute one queued signal (and any older one of its account and symbol).

    Safe to run twice: a signal already executed returns its status and places nothing.
    """
    return process_runtime().execute([signal_id])[signal_id].value


def execute_signals(signal_ids: list[str]) -> dict[str, str]:
    """Execute a batch the forwarder queued together; the same guarantees, signal by signal."""
    return {i: status.value for i, status in process_runtime().execute(signal_ids).items()}


def send_notification(channel: int, event: dict[str, Any], admitted: bool = False) -> str:
    """Send one event on one channel (the `notifications` queue, the notifier process); returns
    `sent`, `deferred` (it waits for its turn under the rate limit) or `dropped`. Raises when the
    channel did not take it, so that RQ tries again."""
    from app.bootstrap.notifier import notifier_runtime  # noqa: PLC0415 - apprise: notifier only

    return notifier_runtime().send(channel, event, admitted=admitted)


def send_daily_summary(end: str) -> str:
    """Send the summary of the 24 hours up to `end` (ISO time) and schedule the next one."""
    from app.bootstrap.notifier import notifier_runtime  # noqa: PLC0415 - apprise: notifier only

    return notifier_runtime().summary(datetime.fromisoformat(end))
