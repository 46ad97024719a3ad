"""An account's own notification channels: apprise URLs of its own (a trader's Telegram chat, a
fund's Discord), each hearing the events `events` chooses in NOTIFY_EVENTS' syntax.

The URLs hold secrets (bot tokens, webhook keys): they are kept sealed under SECRETS_KEY and
never shown. What is kept in clear, and shown, is `AccountChannels`: each channel's service and
its URL with every part that may be secret masked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from app.domain.notifications import Routes, parse_routes

MAX_CHANNELS = 10  # an account's own URLs, at most
MAX_URL_LENGTH = 2000
MAX_EVENTS_LENGTH = 500
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)


class ChannelShown(msgspec.Struct, frozen=True):
    """One of an account's channels as shown: never its URL."""

    service: str  # apprise's name for it: telegram, discord, json...
    shown: str  # the URL with what may be secret masked: tgram://***, json://***@host:port/***


class AccountChannels(msgspec.Struct, frozen=True):
    """An account's own channels as kept in clear and shown (their URLs are sealed apart)."""

    channels: tuple[ChannelShown, ...]
    events: str = ""  # NOTIFY_EVENTS' syntax over these channels; "" every event on each

    def routes(self) -> Routes:
        """The kinds each channel hears (checked when they were set)."""
        return parse_routes(self.events, len(self.channels), "the account")


class InvalidChannels(ValueError):
    """Channels an account cannot be given; the message says what to write instead."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def checked_urls(urls: Sequence[str]) -> tuple[str, ...]:
    """The URLs, stripped, once each looks like an apprise URL (apprise itself checks them next).
    A bad one is named by its position, never shown.

    Raises:
        InvalidChannels: none given, too many, or one that is not SERVICE://...
    """
    found = tuple(url.strip() for url in urls if url.strip())
    if not found:
        raise InvalidChannels(
            "notify_urls", "give at least one apprise URL, like tgram://BOT_TOKEN/CHAT_ID, or"
            " clear the account's channels",
        )  # fmt: skip
    if len(found) > MAX_CHANNELS:
        raise InvalidChannels("notify_urls", f"an account has at most {MAX_CHANNELS} channels")
    for number, url in enumerate(found):
        if len(url) > MAX_URL_LENGTH or not _SCHEME.match(url):
            raise InvalidChannels(
                "notify_urls", f"URL {number} (counted from 0) is not an apprise URL: write"
                " SERVICE://..., like tgram://BOT_TOKEN/CHAT_ID, at most 2,000 characters",
            )  # fmt: skip
    return found


def checked_events(raw: str, channels: int) -> str:
    """`raw` (NOTIFY_EVENTS' syntax) once it names only the account's `channels` channels.

    Raises:
        InvalidChannels: the sentence of `parse_routes`, or a selection too long.
    """
    events = raw.strip()
    if len(events) > MAX_EVENTS_LENGTH:
        raise InvalidChannels("notify_events", "the event selection is at most 500 characters")
    try:
        parse_routes(events, channels, "the account")
    except ValueError as error:
        raise InvalidChannels("notify_events", f"notify_events is not valid: {error}") from None
    return events
