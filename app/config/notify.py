"""The notification settings (`NOTIFY_*`): the channels, which events each hears, how often."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import time

from app.config.numbers import whole
from app.domain.notifications import Routes, parse_routes

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://\S", re.IGNORECASE)

Reader = Callable[[str, str, Callable[[str], object]], None]


@dataclass(frozen=True, slots=True)
class NotifySettings:
    # apprise URLs, one a channel; they hold tokens and passwords: never shown
    urls: tuple[str, ...] = field(default=(), repr=False)
    routes: Routes = field(default_factory=Routes)
    per_minute: int = 20  # messages per channel and minute
    summary_at: time = time(0, 0)  # when the daily summary goes out, UTC

    @property
    def enabled(self) -> bool:
        return bool(self.urls)


def urls(raw: str) -> tuple[str, ...]:
    """`tgram://BOT_TOKEN/CHAT_ID,discord://WEBHOOK_ID/WEBHOOK_TOKEN`: one apprise URL a channel.
    A bad one is named by its position, never shown (it holds secrets)."""
    found = tuple(part.strip() for part in raw.split(",") if part.strip())
    for number, url in enumerate(found):
        if not _SCHEME.match(url):
            raise ValueError(
                f"URL {number} (counted from 0) is not an apprise URL: write SERVICE://..., like"
                " tgram://BOT_TOKEN/CHAT_ID, separated by commas"
            )
    return found


def per_minute(raw: str) -> int:
    return whole(raw, "use a whole number of messages a minute from 1 to 600, like 20", 1, 600)


def clock_time(raw: str) -> time:
    try:
        hours, minutes = (int(part) for part in raw.strip().split(":"))
        return time(hours, minutes)
    except ValueError:
        raise ValueError("use a UTC time of day as HH:MM, like 21:30") from None


def read_notify(read: Reader, values: dict[str, object], errors: list[str]) -> None:
    """The `NOTIFY_*` settings into `values` (`notify.` keys); NOTIFY_EVENTS is checked against
    the number of channels."""
    read("NOTIFY_URLS", "notify.urls", urls)
    read("NOTIFY_EVENTS", "notify.routes", str)
    read("NOTIFY_RATE_PER_MINUTE", "notify.per_minute", per_minute)
    read("NOTIFY_SUMMARY_AT", "notify.summary_at", clock_time)
    channels = values.get("notify.urls", ())
    assert isinstance(channels, tuple)
    raw = values.pop("notify.routes", "")
    assert isinstance(raw, str)
    try:
        values["notify.routes"] = parse_routes(raw, len(channels))
    except ValueError as exc:
        errors.append(f"NOTIFY_EVENTS={raw!r} is not valid: {exc}.")
