"""What a process hands its events to (`app.ports.notifications.Notifier`): the
`notifications` queue when `NOTIFY_URLS` names a channel, else nobody. Light on purpose:
apprise is loaded by the notifier process alone (`app.bootstrap.notifier`)."""

from __future__ import annotations

import redis

from app.adapters.notify.queue import RqNotifier
from app.config.settings import Settings
from app.ports.notifications import NoNotifier, Notifier


def build_notifier(settings: Settings) -> Notifier:
    if not settings.notify.enabled or settings.redis_url is None:
        return NoNotifier()
    # short timeouts: the enqueueing thread gives up on a Redis that does not answer, and a
    # process's end waits for it a few seconds at most
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0
    )
    return RqNotifier(client, settings.notify.routes)


def close_notifier(notifier: Notifier) -> None:
    """Queue what the process still holds (a few seconds at most), at its end."""
    if isinstance(notifier, RqNotifier):
        notifier.close()
