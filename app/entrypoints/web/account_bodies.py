"""The bodies of `POST /accounts`, `PATCH /accounts/{name}` and `POST /subscriptions`: decoders,
and their schemas for the OpenAPI document (the routes decode their raw body themselves, like
those of connections). An account's own size is one shape per kind of mode: a percent is at
most 100. An account's own notification URLs are given in a PATCH and never answered back."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
from litestar.openapi.spec import Example, OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType

from app.domain.account_channels import MAX_CHANNELS, MAX_EVENTS_LENGTH, MAX_URL_LENGTH
from app.domain.accounts import (
    MAX_MULTIPLIER,
    MOST,
    STRATEGY_PATTERN,
    AccountLimits,
    AccountSizing,
)
from app.domain.connections import NAME_PATTERN
from app.domain.signals import QtyMode

Name = Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
Unset = msgspec.UnsetType
UNSET = msgspec.UNSET
# numbers above 0 and at most MOST: the account's rules (`checked_account`) refuse the others
# with a sentence naming the field (msgspec sets no bounds on a Decimal)
Amount = Decimal
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class Limits(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    max_order_notional: Amount | Unset = UNSET
    max_total_exposure: Amount | Unset = UNSET
    max_open_positions: Count | Unset = UNSET
    max_daily_loss: Amount | Unset = UNSET
    max_orders_per_minute: Count | Unset = UNSET

    def own(self) -> AccountLimits:
        return msgspec.convert(msgspec.to_builtins(self), AccountLimits)


class FixedSize(msgspec.Struct, forbid_unknown_fields=True):
    qty_mode: Literal["base", "quote"]
    quantity: Amount


class PercentSize(msgspec.Struct, forbid_unknown_fields=True):
    qty_mode: Literal["percent_equity", "risk_percent"]
    quantity: Decimal  # at most 100


Multiplier = Decimal


class NewAccountBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    connections: Annotated[list[Name], msgspec.Meta(max_length=50)] = []
    limits: Limits = msgspec.field(default_factory=Limits)
    size: dict[str, object] | Unset = UNSET  # FixedSize | PercentSize, read by `own_size`
    multiplier: Multiplier = Decimal(1)


class AccountPatchBody(msgspec.Struct, forbid_unknown_fields=True):
    connections: Annotated[list[Name], msgspec.Meta(max_length=50)] | Unset = UNSET
    limits: Limits | Unset = UNSET  # replaces every own limit
    size: dict[str, object] | Unset | None = UNSET  # null: the alert's quantity again
    multiplier: Multiplier | Unset = UNSET
    trading_state: Literal["active", "reducing_only", "halted"] | Unset = UNSET
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=300)] | Unset = UNSET
    notify_urls: list[str] | Unset | None = UNSET  # null: no channel of its own any more
    notify_events: str | Unset = UNSET


class NewSubscriptionBody(msgspec.Struct, forbid_unknown_fields=True):
    strategy: Annotated[str, msgspec.Meta(pattern=STRATEGY_PATTERN)]
    account: Name
    enabled: bool = True


# lax: a whole number written 3.0 is an integer to JSON Schema (the document's `integer`), so a
# count takes it; the accounts' rules still refuse what is not finite, or not above 0
NEW_ACCOUNT = msgspec.json.Decoder(NewAccountBody, strict=False)
ACCOUNT_PATCH = msgspec.json.Decoder(AccountPatchBody, strict=False)
NEW_SUBSCRIPTION = msgspec.json.Decoder(NewSubscriptionBody)


def own_size(size: dict[str, object] | None, multiplier: Decimal) -> AccountSizing:
    """The account's sizing from a body's `size` (None: the alert's quantity) and multiplier.

    Raises:
        msgspec.ValidationError: `size` is neither shape (the route answers 422 naming it).
    """
    if size is None:
        return AccountSizing(multiplier=multiplier)
    percent = size.get("qty_mode") in ("percent_equity", "risk_percent")
    shape: type[FixedSize | PercentSize] = PercentSize if percent else FixedSize
    try:
        given: FixedSize | PercentSize = msgspec.convert(size, shape)
    except msgspec.ValidationError as error:
        raise msgspec.ValidationError(f"{error} - at `$.size`") from None
    return AccountSizing(QtyMode(given.qty_mode), given.quantity, multiplier)


_S, _O, _N, _I = OpenAPIType.STRING, OpenAPIType.OBJECT, OpenAPIType.NUMBER, OpenAPIType.INTEGER
_NAME = Schema(type=_S, pattern=NAME_PATTERN, description="letters, digits and _, like main")
_AMOUNT = Schema(type=_N, exclusive_minimum=0, maximum=float(MOST))
_COUNT = Schema(type=_I, minimum=1, maximum=1_000_000)
_CONNECTIONS = Schema(
    type=OpenAPIType.ARRAY,
    items=_NAME,
    max_items=50,
    description="the venues (connection names) it trades on; none: every venue",
)
_LIMITS = Schema(
    type=_O,
    properties={
        "max_order_notional": _AMOUNT,
        "max_total_exposure": _AMOUNT,
        "max_open_positions": _COUNT,
        "max_daily_loss": _AMOUNT,
        "max_orders_per_minute": _COUNT,
    },
    additional_properties=False,
    description="its own limits, in the account currency; one left out is the global one",
)


def _size(modes: list[str], most: float) -> Schema:
    return Schema(
        type=_O,
        properties={
            "qty_mode": Schema(type=_S, enum=modes),
            "quantity": Schema(type=_N, exclusive_minimum=0, maximum=most),
        },
        required=["qty_mode", "quantity"],
        additional_properties=False,
    )


_SIZE = Schema(
    one_of=[
        _size(["base", "quote"], float(MOST)),
        _size(["percent_equity", "risk_percent"], 100.0),
    ],
    description="every entry's size, whatever the alert says; left out: the alert's quantity",
)
_MULTIPLIER = Schema(
    type=_N,
    exclusive_minimum=0,
    maximum=float(MAX_MULTIPLIER),
    description="multiplies each entry's size (default 1)",
)


def _body(schema: Schema, description: str, example: dict[str, object]) -> RequestBody:
    media = OpenAPIMediaType(schema=schema, examples={"example": Example(value=example)})
    return RequestBody(required=True, description=description, content={"application/json": media})


NEW_ACCOUNT_BODY = _body(
    Schema(
        type=_O,
        properties={
            "name": _NAME,
            "connections": _CONNECTIONS,
            "limits": _LIMITS,
            "size": _SIZE,
            "multiplier": _MULTIPLIER,
        },
        required=["name"],
        additional_properties=False,
    ),
    "An account: the venues it trades on, its own limits and sizing. Subscribe it to a "
    "strategy (POST /subscriptions) for that strategy's alerts to trade it.",
    {"name": "main", "connections": ["paper"], "multiplier": 2},
)
ACCOUNT_PATCH_BODY = _body(
    Schema(
        type=_O,
        properties={
            "connections": _CONNECTIONS,
            "limits": _LIMITS,
            "size": Schema(one_of=[_SIZE, Schema(type=OpenAPIType.NULL)]),
            "multiplier": _MULTIPLIER,
            "trading_state": Schema(type=_S, enum=["active", "reducing_only", "halted"]),
            "reason": Schema(type=_S, min_length=1, max_length=300),
            "notify_urls": Schema(
                one_of=[
                    Schema(
                        type=OpenAPIType.ARRAY,
                        items=Schema(type=_S, max_length=MAX_URL_LENGTH),
                        min_items=1,
                        max_items=MAX_CHANNELS,
                    ),
                    Schema(type=OpenAPIType.NULL),
                ],
                description="apprise URLs: its own notification channels, replacing any it"
                " had (stored encrypted: SECRETS_KEY must be set; never shown); null: none",
            ),
            "notify_events": Schema(
                type=_S,
                max_length=MAX_EVENTS_LENGTH,
                description="what each of its channels hears, in NOTIFY_EVENTS' syntax"
                " (0:all;1:urgent); with notify_urls, or alone to change it",
            ),
        },
        additional_properties=False,
        min_properties=1,
    ),
    "What to change: its venues, limits (replacing its own), size (null: the alert's "
    "quantity again), multiplier, its trading state (halted, reducing_only, active) with "
    "a reason, or its own notification channels (notify_urls, notify_events).",
    {"trading_state": "halted", "reason": "rebalancing"},
)
NEW_SUBSCRIPTION_BODY = _body(
    Schema(
        type=_O,
        properties={
            "strategy": Schema(
                type=_S,
                pattern=STRATEGY_PATTERN,
                description="as in /webhook/{strategy} or the alert's strategy",
            ),
            "account": _NAME,
            "enabled": Schema(type=OpenAPIType.BOOLEAN, description="default true"),
        },
        required=["strategy", "account"],
        additional_properties=False,
    ),
    "The strategy's alerts trade the account too (while enabled); posting it again sets enabled.",
    {"strategy": "trend", "account": "main"},
)


@dataclass
class NewAccountOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = NEW_ACCOUNT_BODY


@dataclass
class AccountPatchOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = ACCOUNT_PATCH_BODY


@dataclass
class NewSubscriptionOperation(Operation):
    def __post_init__(self) -> None:
        self.request_body = NEW_SUBSCRIPTION_BODY
