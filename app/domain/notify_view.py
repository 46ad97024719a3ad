"""What the console shows of the notification channels: each one by its index and service (never
its URL, which holds secrets), the events it hears and how its sends went."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from app.domain.notifications import ROUTED, EventKind, Routes

OUTCOMES = ("sent", "retried", "failed", "deferred", "dropped", "duplicate")


class ChannelView(msgspec.Struct, frozen=True):
    index: int  # its position in NOTIFY_URLS, from 0
    service: str | None  # None: apprise cannot send to its URL
    events: tuple[EventKind, ...]  # the kinds it hears, in EventKind's order
    counts: dict[str, int] | None  # sends by outcome (OUTCOMES); None: not readable now

    @property
    def every_event(self) -> bool:
        return frozenset(self.events) == ROUTED


def channel_views(
    services: Sequence[str | None], routes: Routes, outcomes: Mapping[str, float] | None
) -> list[ChannelView]:
    """The channels as shown. `outcomes`: the counters `"channel,service,outcome"` -> sends
    (`app.adapters.notify.deliveries.outcomes`); a channel's are those of its service now (a
    URL replaced by another service's starts from 0)."""
    views = []
    for index, service in enumerate(services):
        hears = routes.channels[index] if index < len(routes.channels) else frozenset()
        counts = None
        if outcomes is not None:
            counts = {
                outcome: int(outcomes.get(f"{index},{service},{outcome}", 0))
                for outcome in OUTCOMES
            }
        events = tuple(kind for kind in EventKind if kind in hears)
        views.append(ChannelView(index, service, events, counts))
    return views
