"""The bodies of `POST /connections` and `PATCH /connections/{id}`: decoders, and their schemas
for the OpenAPI document.

The routes decode their raw body themselves (a malformed one is a 400, a field that breaks its
type a 422 naming it), so an `operation_class` puts the schemas in. The schema of a new
connection is one shape per kind of venue (paper, live only, testnet or live): a venue's modes
and the keys it needs are rules between fields that it states, so whatever it allows is stored.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

import msgspec
from litestar.exceptions import HTTPException
from litestar.openapi.spec import (
    Example,
    OpenAPIMediaType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType

from app.bootstrap.venue_modes import VENUE_MODES
from app.domain.connections import KEY_PATTERN, NAME_PATTERN, PAPER, URL_PATTERN
from app.entrypoints.web.answers import InvalidField

T = TypeVar("T")

Name = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
Key = Annotated[str, msgspec.Meta(pattern=KEY_PATTERN)]
Url = Annotated[str, msgspec.Meta(pattern=URL_PATTERN)]
Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


class NewConnectionBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    venue: Annotated[str, msgspec.Meta(max_length=40)]
    mode: Literal["paper", "testnet", "live"]
    api_key: Key | Unset = UNSET
    api_secret: Key | Unset = UNSET
    api_password: Key | Unset = UNSET
    api_url: Url | Unset = UNSET
    enabled: bool = True


class ConnectionPatchBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | Unset = UNSET
    enabled: bool | Unset = UNSET
    api_key: Key | Unset = UNSET
    api_secret: Key | Unset = UNSET
    api_password: Key | Unset | None = UNSET  # null removes it
    api_url: Url | Unset | None = UNSET  # null removes it


NEW_CONNECTION = msgspec.json.Decoder(NewConnectionBody)
CONNECTION_PATCH = msgspec.json.Decoder(ConnectionPatchBody)
_AT = re.compile(r" - at `\$\.([A-Za-z_]+)")


def field_at_fault(error: msgspec.ValidationError) -> str | None:
    """The body field msgspec's error names (its message never holds the value)."""
    found = _AT.search(str(error))
    return found.group(1) if found else None


def decoded(raw: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """A request body: 400 when it is not JSON, 422 naming the field that breaks its type."""
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise InvalidField(f"the body is invalid: {error}", field_at_fault(error)) from None
    except msgspec.DecodeError as error:
        raise HTTPException(status_code=400, detail=f"the body is not JSON: {error}") from None


_S = OpenAPIType.STRING
_NAME = Schema(
    type=_S, pattern=NAME_PATTERN, description="letters, digits and _, like binance_main"
)
_KEY = Schema(type=_S, pattern=KEY_PATTERN, description="never shown again, stored encrypted")
_URL = Schema(type=_S, pattern=URL_PATTERN, description="a proxy or regional endpoint")
_ENABLED = Schema(type=OpenAPIType.BOOLEAN, description="default true")


def _shape(venues: list[str], modes: tuple[str, ...]) -> Schema:
    """A new connection to one of `venues`, which trade in `modes`."""
    paper = modes == (PAPER,)
    properties: dict[str, Schema | Reference] = {
        "name": _NAME,
        "venue": Schema(type=_S, enum=venues),
        "mode": Schema(type=_S, enum=list(modes)),
        "enabled": _ENABLED,
    }
    if not paper:
        properties |= {"api_key": _KEY, "api_secret": _KEY, "api_password": _KEY, "api_url": _URL}
    return Schema(
        type=OpenAPIType.OBJECT,
        properties=properties,
        required=["name", "venue", "mode"] + ([] if paper else ["api_key", "api_secret"]),
        additional_properties=False,
        description="paper: simulated, no keys"
        if paper
        else f"{' or '.join(modes)}: api_key and api_secret, api_password where the venue has"
        " one (OKX, KuCoin)",
    )


def new_connection_schema(venue_modes: Mapping[str, tuple[str, ...]]) -> Schema:
    by_modes: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for venue, modes in venue_modes.items():
        by_modes[modes].append(venue)
    return Schema(one_of=[_shape(sorted(v), modes) for modes, v in by_modes.items()])


_EXAMPLE = {
    "name": "binance_main",
    "venue": "binance",
    "mode": "testnet",
    "api_key": "YOUR_API_KEY",
    "api_secret": "YOUR_API_SECRET",
}
NEW_CONNECTION_BODY = RequestBody(
    required=True,
    description="A venue account. Its keys are stored encrypted under SECRETS_KEY and never "
    "returned: answers show which are set and the API key's last characters.",
    content={
        "application/json": OpenAPIMediaType(
            schema=new_connection_schema(VENUE_MODES),
            examples={
                "testnet": Example(value=_EXAMPLE),
                "paper": Example(value={"name": "paper_two", "venue": "paper", "mode": "paper"}),
            },
        )
    },
)
CONNECTION_PATCH_BODY = RequestBody(
    required=True,
    description="What to change: the name, enabled, keys (those given replace the stored ones; "
    "api_password null removes it) or api_url (null removes it). New keys forget the last test. "
    "A paper connection takes no keys and no api_url (409).",
    content={
        "application/json": OpenAPIMediaType(
            schema=Schema(
                type=OpenAPIType.OBJECT,
                properties={
                    "name": _NAME,
                    "enabled": Schema(type=OpenAPIType.BOOLEAN),
                    "api_key": _KEY,
                    "api_secret": _KEY,
                    "api_password": Schema(one_of=[_KEY, Schema(type=OpenAPIType.NULL)]),
                    "api_url": Schema(one_of=[_URL, Schema(type=OpenAPIType.NULL)]),
                },
                additional_properties=False,
                min_properties=1,
            ),
            examples={"disable": Example(value={"enabled": False})},
        )
    },
)


@dataclass
class NewConnectionOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = NEW_CONNECTION_BODY


@dataclass
class ConnectionPatchOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = CONNECTION_PATCH_BODY
