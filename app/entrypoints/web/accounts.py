"""HTTP routes of accounts and subscriptions: list and read (the read API's rule); add, change,
halt, resume and remove accounts, give them notification channels of their own, subscribe and
unsubscribe them (the admin rule: API_TOKEN)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.params import Parameter

from app.domain.account_channels import InvalidChannels
from app.domain.accounts import STRATEGY_PATTERN, Account, InvalidAccount, Subscription
from app.domain.connections import NAME_PATTERN
from app.domain.risk_values import TradingState
from app.entrypoints.web.account_bodies import (
    ACCOUNT_PATCH,
    NEW_ACCOUNT,
    NEW_SUBSCRIPTION,
    UNSET,
    AccountPatchBody,
    AccountPatchOperation,
    NewAccountBody,
    NewAccountOperation,
    NewSubscriptionBody,
    NewSubscriptionOperation,
    own_size,
)
from app.entrypoints.web.answers import READ_ACCESS, InvalidField, errors
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.connection_bodies import decoded, field_at_fault
from app.entrypoints.web.guards import requires_admin_token, requires_read_access

if TYPE_CHECKING:
    from app.services.account_channels import AccountNotifications

T = TypeVar("T")
Name = Annotated[
    str, Parameter(description="the account's name", schema_extra={"pattern": NAME_PATTERN})
]
Strategy = Annotated[
    str, Parameter(description="the strategy's name", schema_extra={"pattern": STRATEGY_PATTERN})
]
_ADMIN = (requires_admin_token,)
_E403 = "API_TOKEN is not set: the admin API needs it"
_E403_PATCH = f"{_E403}; or SECRETS_KEY is not set, which notify_urls needs"
_E404 = "no account has this name"
_E409 = "the name is taken, or a connection it names does not exist"


@contextmanager
def _refusals() -> Iterator[None]:
    """The service's refusals as HTTP errors, each its sentence."""
    from app.services.accounts import AccountConflict, UnknownAccount  # noqa: PLC0415
    from app.services.connections import KeysLocked  # noqa: PLC0415

    try:
        yield
    except InvalidAccount as error:
        if error.field == "connections":  # the body is right; the connection is not there
            raise HTTPException(status_code=409, detail=str(error)) from None
        raise InvalidField(str(error), error.field) from None
    except InvalidChannels as error:
        raise InvalidField(str(error), error.field) from None
    except KeysLocked as error:
        raise PermissionDeniedException(str(error)) from None
    except UnknownAccount as error:
        raise NotFoundException(str(error)) from None
    except AccountConflict as error:
        raise HTTPException(status_code=409, detail=str(error)) from None


async def _call(action: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A service call off the event loop (it reads and writes SQL), refusals answered."""
    with _refusals():
        return await asyncio.to_thread(lambda: action(*args, **kwargs))


def _size(size: dict[str, object] | None, multiplier: Any) -> Any:
    try:
        return own_size(size, multiplier)
    except msgspec.ValidationError as error:
        raise InvalidField(f"the body is invalid: {error}", field_at_fault(error)) from None


def _notify(
    service: AccountNotifications,
    name: str,
    urls: list[str] | msgspec.UnsetType | None,
    events: str | msgspec.UnsetType,
) -> Account:
    """The account's own channels as a PATCH sets them: `notify_urls` replaces them (with
    `notify_events`, else every event on each), null removes them, `notify_events` alone
    changes what they hear."""
    if urls is None:
        if events is not UNSET:
            raise InvalidChannels(
                "notify_events", "notify_events goes with channels: notify_urls null removes"
                " them, events and all",
            )  # fmt: skip
        return service.clear(name)
    chosen = "" if events is UNSET else events
    if urls is UNSET:
        return service.set_events(name, chosen)
    return service.set(name, urls, chosen)


class AccountsController(Controller):
    """The routes of `/accounts`."""

    path = "/accounts"

    @get(
        "/",
        summary="Accounts, with their venues, own limits, sizing and trading state",
        guards=[requires_read_access],
        security=READ_ACCESS,
        responses=errors(401),
    )
    async def list_accounts(self, request: Request[Any, Any, Any]) -> list[Account]:
        return await _call(services_of(request).accounts.list_all)

    @get(
        "/{name:str}",
        summary="One account",
        guards=[requires_read_access],
        security=READ_ACCESS,
        responses=errors(401, 404, e404=_E404),
    )
    async def get_account(self, request: Request[Any, Any, Any], name: Name) -> Account:
        return await _call(services_of(request).accounts.get, name)

    @post(
        "/",
        summary="Add an account",
        guards=_ADMIN,
        security=READ_ACCESS,
        responses=errors(400, 401, 403, 409, 413, 422, e403=_E403, e409=_E409),
        operation_class=NewAccountOperation,
    )
    async def add_account(self, request: Request[Any, Any, Any]) -> Account:
        body: NewAccountBody = decoded(await request.body(), NEW_ACCOUNT)
        account = Account(
            name=body.name,
            connections=tuple(body.connections),
            limits=body.limits.own(),
            sizing=_size(None if body.size is UNSET else body.size, body.multiplier),
        )
        return await _call(services_of(request).accounts.add, account)

    @patch(
        "/{name:str}",
        summary="Change an account's venues, limits, sizing or trading state",
        guards=_ADMIN,
        security=READ_ACCESS,
        responses=errors(
            400, 401, 403, 404, 409, 413, 422, e403=_E403_PATCH, e404=_E404, e409=_E409
        ),
        operation_class=AccountPatchOperation,
    )
    async def change_account(self, request: Request[Any, Any, Any], name: Name) -> Account:
        body: AccountPatchBody = decoded(await request.body(), ACCOUNT_PATCH)
        if body == AccountPatchBody():
            raise InvalidField("the body changes nothing: give at least one field.", None)
        service = services_of(request).accounts
        now = await _call(service.get, name)
        sizing = None
        if body.size is not UNSET or body.multiplier is not UNSET:
            multiplier = now.sizing.multiplier if body.multiplier is UNSET else body.multiplier
            size = now.sizing if body.size is UNSET else _size(body.size, multiplier)
            sizing = msgspec.structs.replace(size, multiplier=multiplier)
        connections = None if body.connections is UNSET else tuple(body.connections)
        limits = None if body.limits is UNSET else body.limits.own()
        if connections is not None or limits is not None or sizing is not None:
            now = await _call(
                service.change, name, connections=connections, limits=limits, sizing=sizing
            )
        if body.notify_urls is not UNSET or body.notify_events is not UNSET:
            channels = services_of(request).account_channels
            now = await _call(_notify, channels, name, body.notify_urls, body.notify_events)
        if body.trading_state is not UNSET:
            state = TradingState(body.trading_state)
            reason = "set over the API" if body.reason is UNSET else body.reason
            now = await _call(service.set_state, name, state, reason)
        return now

    @delete(
        "/{name:str}",
        summary="Remove an account and its subscriptions",
        guards=_ADMIN,
        security=READ_ACCESS,
        responses=errors(401, 403, 404, e403=_E403, e404=_E404),
    )
    async def remove_account(self, request: Request[Any, Any, Any], name: Name) -> None:
        await _call(services_of(request).accounts.remove, name)


class SubscriptionsController(Controller):
    """The routes of `/subscriptions`."""

    path = "/subscriptions"

    @get(
        "/",
        summary="Which accounts each strategy's alerts trade",
        guards=[requires_read_access],
        security=READ_ACCESS,
        responses=errors(401),
    )
    async def list_subscriptions(self, request: Request[Any, Any, Any]) -> list[Subscription]:
        return await _call(services_of(request).accounts.subscriptions)

    @post(
        "/",
        summary="Subscribe an account to a strategy, or enable or disable it",
        status_code=200,
        guards=_ADMIN,
        security=READ_ACCESS,
        responses=errors(400, 401, 403, 404, 413, 422, e403=_E403, e404=_E404),
        operation_class=NewSubscriptionOperation,
    )
    async def subscribe(self, request: Request[Any, Any, Any]) -> Subscription:
        body: NewSubscriptionBody = decoded(await request.body(), NEW_SUBSCRIPTION)
        return await _call(
            services_of(request).accounts.subscribe,
            body.strategy,
            body.account,
            enabled=body.enabled,
        )

    @delete(
        "/{strategy:str}/{account:str}",
        summary="Remove a subscription",
        guards=_ADMIN,
        security=READ_ACCESS,
        responses=errors(401, 403, 404, e403=_E403, e404="no such subscription"),
    )
    async def unsubscribe(
        self, request: Request[Any, Any, Any], strategy: Strategy, account: Name
    ) -> None:
        await _call(services_of(request).accounts.unsubscribe, strategy, account)


ACCOUNT_ROUTES = [AccountsController, SubscriptionsController]
