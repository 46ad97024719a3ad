"""What a process hands its events to (`app.ports.notifications.Notifier`): the
`notifications` queue when an event may have a channel (`NOTIFY_URLS` names one, or SECRETS_KEY
is set, so that an account may have channels of its own), else nobody. Light on purpose:
apprise is loaded by the notifier process alone (`app.bootstrap.notifier`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis

from app.adapters.notify.queue import RqNotifier
from app.config.settings import Settings
from app.ports.notifications import NoNotifier, Notifier

if TYPE_CHECKING:
    from sqlalchemy import Engine


def notifying(settings: Settings) -> bool:
    """Whether any channel may hear an event: NOTIFY_URLS', or an account's own (which can be
    kept only under SECRETS_KEY)."""
    return settings.notify.enabled or bool(settings.secrets_keys)


def build_notifier(settings: Settings, engine: Engine | None = None) -> Notifier:
    """The process's notifier; with `engine` (the process's), accounts' own channels hear their
    events too (see `route_accounts`)."""
    if not notifying(settings) or settings.redis_url is None:
        return NoNotifier()
    # short timeouts: the enqueueing thread gives up on a Redis that does not answer, and a
    # process's end waits for it a few seconds at most
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0
    )
    notifier = RqNotifier(client, settings.notify.routes)
    route_accounts(notifier, settings, engine)
    return notifier


def route_accounts(notifier: Notifier, settings: Settings, engine: Engine | None) -> None:
    """Have `notifier` read accounts' own channels through `engine` (read again every few
    seconds, by its thread); None: no longer (the engine is going). Without SECRETS_KEY no
    account has channels: nothing is read."""
    if not isinstance(notifier, RqNotifier):
        return
    if engine is None or not settings.secrets_keys:
        notifier.account_routes = None
        return
    from app.adapters.sql.accounts import SqlAccountStore  # noqa: PLC0415 - SQL: not at start
    from app.services.account_channels import AccountRouting  # noqa: PLC0415

    notifier.account_routes = AccountRouting(SqlAccountStore(engine).channels_shown)


def close_notifier(notifier: Notifier) -> None:
    """Queue what the process still holds (a few seconds at most), at its end."""
    if isinstance(notifier, RqNotifier):
        notifier.close()
