"""What the console shows of each notification channel: its service, the events it hears, and
its counts (those of its service now only)."""

from __future__ import annotations

from app.domain.notifications import ROUTED, URGENT, EventKind, parse_routes
from app.domain.notify_view import OUTCOMES, channel_views


def test_each_channel_with_its_events_in_order_and_its_own_counts() -> None:
    routes = parse_routes("1:urgent,closed;2:", 3)
    counted = {"0,telegram,sent": 4.0, "0,telegram,failed": 1.0, "0,discord,sent": 9.0,
               "1,json,deferred": 2.0}  # fmt: skip
    first, second, third = channel_views(("telegram", "json", None), routes, counted)
    assert (first.index, first.service, first.every_event) == (0, "telegram", True)
    assert first.events == tuple(kind for kind in EventKind if kind in ROUTED)
    assert first.counts == dict.fromkeys(OUTCOMES, 0) | {"sent": 4, "failed": 1}
    assert second.events == (EventKind.CLOSED, *(k for k in EventKind if k in URGENT))
    assert not second.every_event
    assert second.counts is not None
    assert second.counts["deferred"] == 2
    assert (third.service, third.events, third.every_event) == (None, (), False)


def test_counts_unknown_when_they_cannot_be_read() -> None:
    [view] = channel_views(("ntfy",), parse_routes("", 1), None)
    assert view.counts is None
    assert EventKind.TEST not in view.events
