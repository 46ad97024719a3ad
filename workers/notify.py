"""The notifier process's RQ jobs (the `notifications` queue): a module of their own, so that
resolving them loads no venue library (`workers.jobs` loads the executor and ccxt)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.bootstrap.notifier import notifier_runtime


def send_notification(
    channel: int, event: dict[str, Any], admitted: bool = False, account: str | None = None
) -> str:
    """Send one event on one channel (NOTIFY_URLS', or `account`'s own) from the
    `notifications` queue, in the notifier process; returns `sent`, `deferred` (it waits for its
    turn under the rate limit) or `dropped`. Raises when the channel did not take it, so that RQ
    tries again."""
    return notifier_runtime().send(channel, event, admitted=admitted, account=account)


def send_daily_summary(end: str) -> str:
    """Send the summary of the 24 hours up to `end` (ISO time) and schedule the next one."""
    return notifier_runtime().summary(datetime.fromisoformat(end))
