"""Notifications: handing events over for sending (trading processes), and sending them (the
notifier process's jobs)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from app.domain.brackets.bracket import Bracket
from app.domain.notifications import Admission, Event, Routes
from app.domain.notify_text import Message
from app.ports.performance import ClosedTrades


class Notifier(Protocol):
    def notify(self, event: Event) -> None:
        """Hand `event` over for sending, to every channel that hears its kind.

        Returns at once and never raises: a failure to hand it over is logged and swallowed,
        so that telling the trader never delays or fails what the caller was doing.
        """
        ...


class NoNotifier:
    """`Notifier` while no channel is configured (`NOTIFY_URLS` unset): tells nobody."""

    def notify(self, event: Event) -> None:
        return None


class AccountRoutes(Protocol):
    """What a trading process knows of accounts' own channels: which hears what (never a URL)."""

    def routes(self, account: str) -> Routes:
        """The kinds each of the account's own channels hears (none: no channel); blocking,
        called off the trading path. Never raises: a failed read is logged, the last one used."""
        ...


class Channels(Protocol):
    """The configured channels, by index (their order in `NOTIFY_URLS`, or among an account's
    own URLs)."""

    def __len__(self) -> int: ...

    def service(self, index: int) -> str:
        """The channel's service name (`telegram`, `discord`, `json`...): never its URL, which
        holds secrets."""
        ...

    def send(self, index: int, message: Message) -> bool:
        """Send `message` on the channel (blocking); False when the service refused it or did
        not answer (the library has logged why, its secrets hidden)."""
        ...


class AccountChannelBook(Protocol):
    """The notifier's view of accounts' own channels: opened from where they are kept."""

    def channels(self, account: str) -> Channels:
        """The account's channels as kept now (none: empty).

        Raises:
            SecretsUnreadable: SECRETS_KEY is unset or opens none of them (a sentence says so).
        """
        ...


class Deliveries(Protocol):
    """The channels' shared state, each channel by its label (`channel_label`: `1`, `main-0`):
    their rate limits, and how their sends went."""

    def admit(self, channel: str, now: float, *, urgent: bool) -> Admission | None:
        """Take the channel's next slot (`app.domain.notifications.admit`), atomically across
        processes; None: the message would wait too long and is dropped."""
        ...

    def claim(self, channel: str, key: str) -> bool:
        """Take the send of the event `key` on `channel`, atomically across processes; False:
        it was sent, or is being sent, already (kept a week)."""
        ...

    def release(self, channel: str, key: str) -> None:
        """Give a claim back after a send that failed (its retry claims it again)."""
        ...

    def count(self, channel: str, service: str, outcome: str) -> None:
        """Count one outcome (`sent`, `retried`, `failed`, `deferred`, `dropped`, `duplicate`)
        for /metrics; never raises."""
        ...


class Deferrals(Protocol):
    def defer(self, channel: int, event: Event, at: float, account: str | None = None) -> None:
        """Send `event` on `channel` (of `account`'s own, if given) at Unix time `at`, its slot
        already taken."""
        ...


class SummarySource(ClosedTrades, Protocol):
    """What the daily summary reads (blocking I/O): with each strategy's closed trades."""

    def signal_counts(self, start: datetime, end: datetime) -> dict[str, int]:
        """Signals received in [start, end), by their status now."""
        ...

    def closed_brackets(self, start: datetime, end: datetime) -> list[Bracket]:
        """Brackets closed in [start, end)."""
        ...

    def open_brackets(self) -> list[Bracket]: ...


class Watched(Protocol):
    """What the notifier watches and remembers between its checks, shared by every notifier
    process (so that one of them tells each change, once)."""

    def last_beat(self, process: str) -> float | None:
        """When `process` ("monitor": its last finished round; "forwarder": its heartbeat) last
        showed life (Unix time), None if it never did."""
        ...

    def swap(self, name: str, state: str) -> str | None:
        """Remember `state` for `name`; return the state remembered before (None: never)."""
        ...
