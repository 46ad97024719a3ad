"""Wiring of accounts and subscriptions: the directory intake and execution read (cached), and
the services the CLI and the API change them through (an account's own notification channels
too, sealed under SECRETS_KEY)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import redis
from sqlalchemy import Engine

from app.adapters.redis.account_memo import RedisDirectoryMemo
from app.adapters.sql.accounts import SqlAccountStore
from app.adapters.sql.db import make_engine
from app.adapters.system import SystemClock
from app.bootstrap.connections import build_connections, cipher_of
from app.bootstrap.logs import hide_in_logs
from app.bootstrap.notifications import build_notifier, close_notifier
from app.config.settings import Settings
from app.domain.account_channels import ChannelShown
from app.ports.notifications import Notifier
from app.services.account_channels import AccountNotifications
from app.services.accounts import AccountDirectory, Accounts


def account_directory(
    settings: Settings, engine: Engine, *, remembered: bool = False
) -> AccountDirectory:
    """Accounts and subscriptions as intake and execution read them (read again every few
    seconds: a change made by another process is seen within that time); `remembered`: each
    new read is kept in Redis too, for intake to start on while the database does not answer."""
    memo = None
    if remembered and settings.redis_url is not None:
        client = redis.Redis.from_url(
            settings.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0
        )
        memo = RedisDirectoryMemo(client)
    return AccountDirectory(SqlAccountStore(engine), settings.risk, settings.sizing, memo=memo)


def build_accounts(
    settings: Settings,
    engine: Engine,
    directory: AccountDirectory | None = None,
    notifier: Notifier | None = None,
) -> Accounts:
    """The accounts service over `engine`'s database; `directory`: told of every change;
    `notifier`: told of every account's trading state changed."""
    connections = build_connections(settings, engine)
    return Accounts(
        SqlAccountStore(engine),
        clock=SystemClock().now,
        connections=lambda: [c.name for c in connections.list_all()],
        changed=directory.forget if directory is not None else lambda: None,
        notifier=notifier,
    )


def _described(urls: Sequence[str], source: str) -> tuple[ChannelShown, ...]:
    from app.adapters.notify.channels import described  # noqa: PLC0415 - loads apprise

    return described(urls, source)


def _hidden(urls: Iterable[str]) -> None:
    from app.adapters.notify.channels import channel_secrets  # noqa: PLC0415 - loads apprise

    given = list(urls)
    hide_in_logs(given)  # before apprise reads them (it may log what it parses)
    hide_in_logs(channel_secrets(given))


def build_account_notifications(
    settings: Settings, engine: Engine, accounts: Accounts
) -> AccountNotifications:
    """Accounts' own notification channels over `engine`'s database, sealed with SECRETS_KEY."""
    return AccountNotifications(
        accounts,
        SqlAccountStore(engine),
        cipher_of(settings),
        clock=SystemClock().now,
        describe=_described,
        hide=_hidden,
    )


@contextmanager
def opened_accounts(settings: Settings) -> Iterator[Accounts]:
    """The accounts service for one command, its database engine closed after (and what it
    told queued first)."""
    engine = make_engine(settings.database_url)
    notifier = build_notifier(settings, engine)
    try:
        yield build_accounts(settings, engine, notifier=notifier)
    finally:
        close_notifier(notifier)
        engine.dispose()


@contextmanager
def opened_account_notifications(settings: Settings) -> Iterator[AccountNotifications]:
    """Accounts' own channels for one command, its database engine closed after."""
    engine = make_engine(settings.database_url)
    try:
        yield build_account_notifications(settings, engine, build_accounts(settings, engine))
    finally:
        engine.dispose()
