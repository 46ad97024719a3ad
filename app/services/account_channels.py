"""An account's own notification channels: set, change and clear them (`AccountNotifications`,
for the CLI and the API), open them (the notifier), and which of them hears what
(`AccountRouting`, for trading processes).

The URLs hold secrets: they are sealed under SECRETS_KEY (the connections' `Cipher`) before they
reach the store, hidden from this process's logs as soon as they are handled, and never shown:
what is kept in clear is each channel's service and masked URL (`AccountChannels`). Without
SECRETS_KEY an account cannot be given channels.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from app.domain.account_channels import (
    AccountChannels,
    ChannelShown,
    InvalidChannels,
    checked_events,
    checked_urls,
)
from app.domain.accounts import Account
from app.domain.notifications import Routes, parse_routes
from app.ports.accounts import AccountChannelStore
from app.ports.connections import Cipher
from app.ports.errors import SecretsUnreadable
from app.services.accounts import Accounts, UnknownAccount
from app.services.connections import require_cipher

log = logging.getLogger("signalgate.accounts")
REFRESH_SECONDS = 5.0  # as the accounts' directory: a change is seen within this
_URLS = msgspec.json.Decoder(list[str])


class AccountNotifications:
    """What the CLI and the API do with an account's own notification channels."""

    def __init__(
        self,
        accounts: Accounts,
        store: AccountChannelStore,
        cipher: Cipher | None,
        *,
        clock: Callable[[], datetime],
        describe: Callable[[Sequence[str], str], tuple[ChannelShown, ...]],
        hide: Callable[[Iterable[str]], None] = lambda _: None,
    ) -> None:
        """
        Args:
            accounts: the accounts service (each account read back through it).
            store: where the channels are kept.
            cipher: seals the URLs; None while SECRETS_KEY is unset.
            clock: the time of changes.
            describe: each URL's service and masked form, for whose URLs (raises ValueError
                with a sentence naming a URL apprise cannot send to by its position).
            hide: told the URLs before they are used: this process's logs hide them.
        """
        self._accounts = accounts
        self._store = store
        self._cipher = cipher
        self._clock = clock
        self._describe = describe
        self._hide = hide

    def set(self, name: str, urls: Sequence[str], events: str = "") -> Account:
        """Give the account `urls` (apprise URLs) as its own channels, replacing any it had,
        each hearing what `events` says (NOTIFY_EVENTS' syntax; "": every event).

        Raises:
            UnknownAccount, InvalidChannels, KeysLocked: SECRETS_KEY is unset.
        """
        self._accounts.get(name)
        found = checked_urls(urls)
        self._hide(found)
        chosen = checked_events(events, len(found))
        cipher = require_cipher(self._cipher, "an account's notification URLs cannot be stored"
                                " encrypted")  # fmt: skip
        try:
            shown = self._describe(found, f"account {name}'s notify_urls")
        except ValueError as error:
            raise InvalidChannels("notify_urls", str(error)) from None
        sealed = cipher.seal(msgspec.json.encode(list(found)))
        kept = AccountChannels(shown, chosen)
        if not self._store.set_channels(name, sealed, kept, self._clock()):
            raise UnknownAccount(f"account {name} was removed meanwhile")
        log.info("account %s has %d notification channel(s) of its own: %s", name, len(shown),
                 ", ".join(c.service for c in shown))  # fmt: skip
        return self._accounts.get(name)

    def set_events(self, name: str, events: str) -> Account:
        """Choose which events each of the account's channels hears (NOTIFY_EVENTS' syntax).

        Raises:
            UnknownAccount, InvalidChannels: it has no channel, or `events` is not valid.
        """
        kept = self._accounts.get(name).notify
        if kept is None:
            raise InvalidChannels(
                "notify_events", f"account {name} has no notification channel: give it URLs"
                " first (notify_urls)",
            )  # fmt: skip
        changed = msgspec.structs.replace(kept, events=checked_events(events, len(kept.channels)))
        if not self._store.set_channel_events(name, changed, self._clock()):
            raise UnknownAccount(f"account {name}'s channels were removed meanwhile")
        return self._accounts.get(name)

    def clear(self, name: str) -> Account:
        """Remove the account's own channels (NOTIFY_URLS' still hear its events).

        Raises:
            UnknownAccount.
        """
        self._accounts.get(name)
        if not self._store.set_channels(name, None, None, self._clock()):
            raise UnknownAccount(f"account {name} was removed meanwhile")
        log.info("account %s has no notification channel of its own any more", name)
        return self._accounts.get(name)


def open_urls(cipher: Cipher | None, token: str, account: str) -> tuple[str, ...]:
    """The URLs sealed in `token`, in clear (the notifier sends with them).

    Raises:
        SecretsUnreadable: SECRETS_KEY is unset or opens none of them; the sentence says so.
    """
    if cipher is None:
        raise SecretsUnreadable(
            f"SECRETS_KEY is not set, so the notification URLs of account {account} cannot be"
            " opened: set it to the key they were stored with."
        )
    try:
        return tuple(_URLS.decode(cipher.open(token)))
    except SecretsUnreadable:
        raise SecretsUnreadable(
            f"no key of SECRETS_KEY opens the notification URLs of account {account}: add the"
            " key they were stored with (SECRETS_KEY=new,old while a rekey is under way)."
        ) from None


class SealedAccountChannels:
    """Accounts' sealed URLs as `rekey` seals them again, with the connections' keys."""

    def __init__(self, store: AccountChannelStore) -> None:
        self._store = store

    def every_sealed(self) -> list[tuple[str, str, str]]:
        return [
            (name, f"the notification URLs of account {name}", token)
            for name, token in self._store.every_sealed_channels()
        ]

    def reseal(self, ref: str, old: str, new: str) -> bool:
        return self._store.reseal_channels(ref, old, new)


@dataclass
class AccountRouting:
    """`AccountRoutes`: which of each account's own channels hears what, read again once older
    than `refresh_seconds` (a change made by another process is seen within that time). Read
    by the notifications thread of a trading process, never on a trade's path; a failed read
    is logged and the last one used."""

    read: Callable[[], Mapping[str, AccountChannels]]
    refresh_seconds: float = REFRESH_SECONDS
    clock: Callable[[], float] = time.monotonic
    _routes: dict[str, Routes] = field(default_factory=dict)
    _read_at: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def routes(self, account: str) -> Routes:
        with self._lock:
            if self.clock() - self._read_at >= self.refresh_seconds:
                self._refresh()
            return self._routes.get(account, Routes())

    def _refresh(self) -> None:
        self._read_at = self.clock()
        try:
            kept = self.read()
        except Exception as error:  # noqa: BLE001 - a trade's events must still go out
            log.warning("accounts' notification channels not read again, the last read is"
                        " used: %s", error)  # fmt: skip
            return
        routes = {}
        for name, channels in kept.items():
            try:
                routes[name] = channels.routes()
            except ValueError as error:  # checked when set; a bad row must not stop the others
                log.warning("account %s's notify_events is not valid (%s): its channels hear"
                            " every event", name, error)  # fmt: skip
                routes[name] = parse_routes("", len(channels.channels))
        self._routes = routes
