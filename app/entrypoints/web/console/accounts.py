"""The accounts page: each account with its connections, limits, sizing, own notification
channels (service and masked URL: never the URL) and trading state, and
halt / reduce-only / resume for one account with a reason, through `Accounts.set_state` as the
API (`PATCH /accounts/{name}`) and `signalgate accounts halt` do; the subscriptions under it,
each enabled or disabled through `Accounts.subscribe` (`POST /subscriptions`)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.domain.accounts import Account, InvalidAccount, Subscription
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.console.pages import page
from app.entrypoints.web.console.trading import CHOICES, state_and_reason
from app.entrypoints.web.guards import CONSOLE_DOOR

ACCOUNTS = f"{CONSOLE_DOOR.mount}/accounts"
LIMITS = (  # an account's own limits, in the words the page shows
    ("max_order_notional", "order notional"),
    ("max_total_exposure", "total exposure"),
    ("max_open_positions", "open positions"),
    ("max_daily_loss", "daily loss"),
    ("max_orders_per_minute", "orders a minute"),
)


@get("/accounts")
async def accounts(request: Request[Any, Any, Any]) -> Template:
    services = services_of(request)

    def read() -> tuple[list[Account], list[Subscription], dict[str, Any]]:
        found = services.accounts.list_all()
        subscriptions = services.accounts.subscriptions()
        return found, subscriptions, {c.name: c for c in services.connections.list_all()}

    found, subscriptions, connections = await asyncio.to_thread(read)
    return await page(
        request,
        "accounts.html",
        accounts=found,
        subscriptions=sorted(subscriptions, key=lambda s: (s.strategy, s.account)),
        connections=connections,
        limits=LIMITS,
        risk=services.settings.risk,
        sizing=services.settings.sizing,
        choices=list(CHOICES.items()),
    )


@post("/accounts/{name:str}/state", status_code=303)
async def switch_account(request: Request[Any, Any, Any], name: FromPath[str]) -> Redirect:
    """Set one account's trading state from the page's form (`state`, `reason`)."""
    from app.services.accounts import UnknownAccount  # noqa: PLC0415 - as the API does

    state, reason = await state_and_reason(request, "it is kept with the account's state")
    service = services_of(request).accounts
    try:
        await asyncio.to_thread(service.set_state, name, state, reason)
    except UnknownAccount as error:
        raise NotFoundException(f"{error}.") from None
    return Redirect(f"{ACCOUNTS}#account-{name}", status_code=303)


@post("/subscriptions", status_code=303)
async def toggle_subscription(request: Request[Any, Any, Any]) -> Redirect:
    """Enable or disable the form's subscription (`strategy`, `account`, `enabled`)."""
    from app.services.accounts import UnknownAccount  # noqa: PLC0415 - as the API does

    form = await request.form()
    strategy, name = str(form.get("strategy", "")), str(form.get("account", ""))
    enabled = form.get("enabled") == "true"
    service = services_of(request).accounts
    try:
        await asyncio.to_thread(service.subscribe, strategy, name, enabled=enabled)
    except InvalidAccount as error:
        raise ValidationException(f"{error}.") from None
    except UnknownAccount as error:
        raise NotFoundException(f"{error}.") from None
    return Redirect(f"{ACCOUNTS}#subscriptions", status_code=303)


ACCOUNT_PAGE_ROUTES = (accounts, switch_account, toggle_subscription)
