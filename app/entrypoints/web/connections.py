"""HTTP routes of connections: list and read (the read API's rule), add, change, remove and test
(the admin rule: always API_TOKEN). No answer holds a key: only which are set and the API key's
last characters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from litestar import Controller, Request, delete, get, patch, post
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.params import Parameter

from app.domain.connections import (
    Connection,
    ConnectionConflict,
    InvalidConnection,
    NewConnection,
    UnknownConnection,
    VenueKeys,
)
from app.entrypoints.web.answers import READ_ACCESS, InvalidField, errors
from app.entrypoints.web.connection import services_of
from app.entrypoints.web.connection_bodies import (
    CONNECTION_PATCH,
    NEW_CONNECTION,
    UNSET,
    ConnectionPatchBody,
    ConnectionPatchOperation,
    NewConnectionBody,
    NewConnectionOperation,
    decoded,
)
from app.entrypoints.web.guards import requires_admin_token, requires_read_access

T = TypeVar("T")
Ref = Annotated[
    str,
    Parameter(
        description="a stored connection's id, or any connection's name",
        schema_extra={"pattern": r"^([1-9][0-9]{0,17}|[a-z][a-z0-9_]{0,30})$"},
    ),
]
_ADMIN = (requires_admin_token,)
_E403 = "API_TOKEN is not set (the admin API needs it), or SECRETS_KEY cannot seal or open keys"
_E404 = "no connection has this id or name"
_E409 = "the name is taken, the connection comes from VENUES (read-only), or it is paper"


@contextmanager
def _refusals() -> Iterator[None]:
    """The service's refusals as HTTP errors, each its sentence."""
    from app.services.connections import KeysLocked  # noqa: PLC0415 - loaded with the service

    try:
        yield
    except InvalidConnection as error:
        raise InvalidField(str(error), error.field) from None
    except UnknownConnection as error:
        raise NotFoundException(f"{error}: GET /connections lists them.") from None
    except ConnectionConflict as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    except KeysLocked as error:
        raise PermissionDeniedException(str(error)) from None


async def _call(action: Callable[..., T], *args: Any) -> T:
    """A service call off the event loop (it reads and writes SQL), refusals answered."""
    with _refusals():
        return await asyncio.to_thread(action, *args)


def _given(value: Any) -> Any:
    return None if value is UNSET else value


def _keys(body: NewConnectionBody | ConnectionPatchBody) -> VenueKeys:
    return VenueKeys(_given(body.api_key), _given(body.api_secret), _given(body.api_password))


class ConnectionsController(Controller):
    """The routes of `/connections`."""

    path = "/connections"

    @get(
        "/",
        summary="Connections: those of VENUES (read-only), then the stored ones",
        guards=[requires_read_access],
        security=READ_ACCESS,
        responses=errors(401),
    )
    async def list_connections(self, request: Request[Any, Any, Any]) -> list[Connection]:
        return await _call(services_of(request).connections.list_all)

    @get(
        "/{id:str}",
        summary="One connection, with its last test",
        guards=[requires_read_access],
        security=READ_ACCESS,
        responses=errors(401, 404, e404=_E404),
    )
    async def get_connection(self, request: Request[Any, Any, Any], id: Ref) -> Connection:  # noqa: A002
        return await _call(services_of(request).connections.get, id)

    @post(
        "/",
        summary="Store a connection, its keys encrypted",
        guards=_ADMIN,
        security=READ_ACCESS,
        responses=errors(400, 401, 403, 409, 413, 422, e403=_E403, e409=_E409),
        operation_class=NewConnectionOperation,
    )
    async def store_connection(self, request: Request[Any, Any, Any]) -> Connection:
        body: NewConnectionBody = decoded(await request.body(), NEW_CONNECTION)
        new = NewConnection(
            body.name, body.venue, body.mode, _keys(body), _given(body.api_url), body.enabled
        )
        return await _call(services_of(request).connections.add, new)

    @patch(
        "/{id:str}",
        summary="Rename, enable or disable a stored connection, or replace its keys or api_url",
        guards=_ADMIN,
        security=READ_ACCESS,
        responses=errors(400, 401, 403, 404, 409, 413, 422, e403=_E403, e404=_E404, e409=_E409),
        operation_class=ConnectionPatchOperation,
    )
    async def change_connection(self, request: Request[Any, Any, Any], id: Ref) -> Connection:  # noqa: A002
        from app.services.connections import ConnectionChange  # noqa: PLC0415

        body: ConnectionPatchBody = decoded(await request.body(), CONNECTION_PATCH)
        if body == ConnectionPatchBody():
            raise InvalidField("the body changes nothing: give at least one field.", None)
        change = ConnectionChange(
            name=_given(body.name),
            enabled=_given(body.enabled),
            api_url=_given(body.api_url),
            clear_api_url=body.api_url is None,
            keys=_keys(body),
            clear_api_password=body.api_password is None,
        )
        return await _call(services_of(request).connections.change, id, change)

    @delete(
        "/{id:str}",
        summary="Remove a stored connection and its keys",
        guards=_ADMIN,
        security=READ_ACCESS,
        responses=errors(401, 403, 404, 409, e403=_E403, e404=_E404, e409=_E409),
    )
    async def remove_connection(self, request: Request[Any, Any, Any], id: Ref) -> None:  # noqa: A002
        await _call(services_of(request).connections.remove, id)

    @post(
        "/{id:str}/test",
        summary="Test a connection: keys, permissions, balance, clock skew, markets",
        status_code=200,
        guards=_ADMIN,
        security=READ_ACCESS,
        responses=errors(401, 403, 404, e403=_E403, e404=_E404),
    )
    async def run_test(self, request: Request[Any, Any, Any], id: Ref) -> Connection:  # noqa: A002
        """Run the venue check within CONNECTION_TEST_TIMEOUT_SECONDS; a stored connection keeps its
        outcome (`last_test`: ok or failed with one sentence, the balance, the log). A failed test
        is a 200 too: the test ran."""
        tested: Awaitable[Connection] = services_of(request).connections.test(id)
        with _refusals():
            return await tested


CONNECTION_ROUTES = [ConnectionsController]
