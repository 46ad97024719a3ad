"""The notification settings page: each channel by its index and service (never its URL: tokens
and passwords live in it), the events it hears, how its sends went, the rate limit and the
summary's time; and a test message per channel, queued like any notification."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from app.domain.notifications import URGENT, EventKind
from app.domain.notify_view import OUTCOMES
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.console.pages import page
from app.entrypoints.web.guards import CONSOLE_DOOR

NOTIFICATIONS = f"{CONSOLE_DOOR.mount}/notifications"
MAX_CHANNEL = 999


@get("/notifications")
async def notifications(
    request: Request[Any, Any, Any],
    tested: Annotated[int | None, QueryParameter(ge=0, le=MAX_CHANNEL)] = None,
) -> Template:
    services = services_of(request)
    channels, waiting = await asyncio.to_thread(services.notification_channels)
    notify = services.settings.notify
    return await page(
        request,
        "notifications.html",
        channels=channels,
        waiting=waiting,
        outcomes=OUTCOMES,
        urgent=URGENT,
        per_minute=notify.per_minute,
        summary_at=notify.summary_at,
        summary_heard=bool(notify.routes.to(EventKind.SUMMARY)),
        tested=tested,
    )


@post("/notifications/test", status_code=303)
async def send_test(request: Request[Any, Any, Any]) -> Redirect:
    """Queue a test message for the form's `channel`."""
    form = await request.form()
    raw = str(form.get("channel", "")).strip()
    channel = int(raw) if raw.isdigit() and len(raw) <= len(str(MAX_CHANNEL)) else -1
    services = services_of(request)
    if channel < 0 or not await asyncio.to_thread(services.send_test_message, channel, "console"):
        count = len(services.settings.notify.urls)
        raise ValidationException(
            f"there is no channel {raw[:10]!r}: NOTIFY_URLS has {count}, numbered from 0."
        )
    return Redirect(f"{NOTIFICATIONS}?tested={channel}", status_code=303)


NOTIFY_ROUTES = (notifications, send_test)
