"""The JSON alert dialects as JSON Schemas, for the webhook's entry in the OpenAPI document.

Each schema states what the parser in app/domain/dialects/ accepts, field by field; where
the parser accepts more (any ticker it can split, any printable text), the schema shows a form
that is always read. Rules between fields that a schema cannot state (take-profit shares adding
up to at most 1, a distance that must leave the price above zero) are in the descriptions and
answered 422 naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar.openapi.spec import Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType

_S, _N, _I = OpenAPIType.STRING, OpenAPIType.NUMBER, OpenAPIType.INTEGER

# Numbers may be sent as JSON numbers or as text; finer than 1e-18 is refused as a unit mistake.
NUM = r"(0\.[0-9]{0,7}[1-9]|[1-9][0-9]{0,9}(\.[0-9]{1,8})?)"
PCT = r"(0\.[0-9]{0,3}[1-9]|[1-9][0-9]?(\.[0-9]{1,4})?|100)"
# USDT and USDC pairs with a base that is not itself a quote currency: always one market. The
# parser reads more (USD, EUR, BTC... quotes; BTC-USDT-SWAP, BTC/USDT:USDT): see the README.
TICKER_RE = r"([A-Z]{2,12}:)?[A-TV-Z][A-Z0-9]{1,7}[-/_]?(USDT|USDC)(\.P)?"
_TIME = (
    r"^(19[7-9][0-9]|20[0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)


def _number(high: float = 1e15, text: str = NUM, what: str = "a positive number") -> Schema:
    return Schema(
        type=[_N, _S],
        minimum=1e-18,
        maximum=high,
        pattern=f"^{text}$",
        description=f"{what}, as a JSON number or as text",
    )


def text(pattern: str, description: str) -> Schema:
    return Schema(type=_S, pattern=pattern, description=description)


def _choice(*words: str, description: str | None = None) -> Schema:
    return Schema(type=_S, enum=list(words), description=description)


def _object(
    properties: Mapping[str, Reference | Schema],
    required: tuple[str, ...] = (),
    description: str | None = None,
    **rest: Any,
) -> Schema:
    return Schema(
        type=OpenAPIType.OBJECT,
        properties=dict(properties),
        required=list(required) or None,
        additional_properties=False,
        description=description,
        **rest,
    )


def _needs(key: str, values: tuple[str, ...], then: Schema) -> Schema:
    """`then` applies when `key` holds one of `values` (an order type that needs its price)."""
    return Schema(
        schema_if=Schema(properties={key: Schema(enum=list(values))}, required=[key]), then=then
    )


def _needs_value(key: str, value: str) -> Schema:
    return Schema(properties={key: Schema(const=value)}, required=[key])


POSITIVE = _number()
PERCENT = _number(100, PCT, "a percent above 0, at most 100")
TP_PERCENT = _number(1000, PCT, "a percent above 0, at most 1000")
SHARE = _number(1, r"(0\.[0-9]{0,5}[1-9]|1)", "the share of the position, above 0, at most 1")
TICKER = text(
    f"^{TICKER_RE}$",
    "the ticker as TradingView writes it ({{ticker}} or {{exchange}}:{{ticker}}): BTCUSDT, "
    "BINANCE:BTCUSDT, BTCUSDT.P (perpetual), BTC/USDT, BTC-USDT, BTC_USDT; the EXCHANGE: "
    "prefix is the venue hint",
)
TIME = Schema(
    type=[_S, _I],
    pattern=_TIME,
    minimum=1,
    maximum=1e14,
    description="when the alert fired: ISO 8601 ({{timenow}}; without a zone it is UTC) or "
    "epoch seconds or milliseconds",
)
# A short secret would be masked wherever it appears in an error's sentence: send a long one
SECRET = text(r"^[!-~]{8,200}$", "WEBHOOK_SECRET (or send ?token= or X-Signature instead)")
IDENT = text(r"^[A-Za-z0-9._:-]{1,100}$", "a name or id")
VENUE = text(r"^[A-Za-z][A-Za-z0-9_]{0,39}$", "an exchange: BINANCE or binance")
COMMENT = text(r"^[ -z|~]{0,200}$", "free text, at most 200 characters")
CONFIDENCE = Schema(
    type=[_N, _S],
    minimum=0,
    maximum=1,
    pattern=r"^([0-9]{1,2}(\.[0-9]{1,2})?|100)%$",
    description="0 to 1, or a percent such as 75%; below the threshold the alert is filtered; "
    "without one it counts as 1.0",
)
LAG = Schema(
    type=[_I, _S], minimum=1, maximum=86400, pattern=r"^[1-9][0-9]{0,3}$", description="seconds"
)
SIDE = _choice("long", "short")
MARKET_POSITION = _choice("long", "short", "flat")

_TARGETS = (
    _object({"price": POSITIVE, "share": SHARE}, ("price",)),
    _object({"percent": TP_PERCENT, "share": SHARE}, ("percent",)),
    _object({"distance": POSITIVE, "share": SHARE}, ("distance",)),
)
TAKE_PROFIT = Schema(
    one_of=[
        POSITIVE,
        *_TARGETS,
        Schema(type=OpenAPIType.ARRAY, items=Schema(any_of=[POSITIVE, *_TARGETS]), max_items=10),
    ],
    description="a price, {price|percent|distance, share}, or a list of up to 10 of those "
    "(percent and distance from the entry's fill); the shares add up to at most 1, and targets "
    "without one split what is left equally",
)
STOP_LOSS = Schema(
    one_of=[
        POSITIVE,
        _object({"price": POSITIVE}, ("price",)),
        _object({"percent": PERCENT}, ("percent",)),
        _object({"distance": POSITIVE}, ("distance",)),
        _object({"trailing_percent": PERCENT}, ("trailing_percent",)),
    ],
    description="a price, or one of {price}, {percent} or {distance} (from the entry's fill), "
    "{trailing_percent}",
)
_PRICED = (
    _needs("order_type", ("limit", "stop_limit"), Schema(required=["limit_price"])),
    _needs("order_type", ("stop", "stop_limit"), Schema(required=["stop_price"])),
)

NATIVE = _object(
    {
        "secret": SECRET,
        "dialect": _choice("native"),
        "symbol": TICKER,
        "action": _choice("buy", "long", "sell", "short", "close", "exit", "flat", "reverse"),
        "side": _choice("buy", "sell", description="read when action is not sent"),
        "qty": POSITIVE,
        "quantity": _number(what="qty, when qty is not sent"),
        "qty_mode": _choice("base", "quote", "percent_equity", "risk_percent"),
        "order_type": _choice("market", "limit", "stop", "stop_limit"),
        "price": _number(what="the reference price"),
        "limit_price": POSITIVE,
        "stop_price": POSITIVE,
        "take_profit": TAKE_PROFIT,
        "stop_loss": STOP_LOSS,
        "leverage": _number(1000, PCT, "leverage above 0, at most 1000"),
        "confidence": CONFIDENCE,
        "id": IDENT,
        "alert_id": IDENT,
        "time": TIME,
        "timestamp": TIME,
        "max_lag": LAG,
        "comment": COMMENT,
        "strategy": IDENT,
        "account": IDENT,
        "venue": VENUE,
        "exchange": VENUE,
        "position_side": SIDE,
    },
    ("symbol",),
    "signalgate's own JSON: every field under a plain name",
    any_of=[Schema(required=["action"]), Schema(required=["side"])],
    all_of=[
        *_PRICED,
        _needs(
            "qty_mode",
            ("percent_equity", "risk_percent"),
            Schema(properties={"qty": PERCENT, "quantity": PERCENT}),
        ),
    ],
)

TRADINGVIEW = _object(
    {
        "secret": SECRET,
        "dialect": _choice("tradingview"),
        "ticker": TICKER,
        "action": _choice("buy", "sell", description="{{strategy.order.action}}"),
        "contracts": _number(what="{{strategy.order.contracts}}"),
        "price": _number(what="{{strategy.order.price}}"),
        "market_position": MARKET_POSITION,
        "prev_market_position": MARKET_POSITION,
        "market_position_size": POSITIVE,
        "order_id": IDENT,
        "id": IDENT,
        "alert_id": IDENT,
        "timenow": TIME,
        "time": TIME,
        "strategy": IDENT,
        "exchange": VENUE,
        "tp": TAKE_PROFIT,
        "sl": STOP_LOSS,
        "confidence": CONFIDENCE,
        "comment": COMMENT,
    },
    ("ticker", "action"),
    "TradingView's strategy placeholders; told from TradersPost by contracts, market_position, "
    "order_id or timenow",
    any_of=[
        Schema(required=[key])
        for key in ("dialect", "contracts", "market_position", "order_id", "timenow")
    ],
)

# takeProfit/stopLoss amount is a distance from the entry's fill: it needs a side to be on
_DISTANCE_NEEDS_SIDE = Schema(
    schema_if=Schema(
        any_of=[
            Schema(properties={key: Schema(required=["amount"])}, required=[key])
            for key in ("takeProfit", "stopLoss")
        ]
    ),
    then=Schema(
        properties={
            "action": _choice("buy", "sell", "add"),
            "sentiment": _choice("bullish", "bearish", "long", "short"),
        }
    ),
)

TRADERSPOST = _object(
    {
        "passphrase": SECRET,
        "secret": SECRET,
        "dialect": _choice("traderspost"),
        "ticker": TICKER,
        "action": _choice("buy", "sell", "exit", "add"),
        "sentiment": _choice("bullish", "bearish", "long", "short", "flat"),
        "quantity": POSITIVE,
        "quantityType": _choice(
            "fixed_quantity", "dollar_amount", "percent_of_equity", "risk_percent"
        ),
        "orderType": _choice("market", "limit", "stop", "stop_limit"),
        "limitPrice": POSITIVE,
        "stopPrice": POSITIVE,
        "price": POSITIVE,
        "signalPrice": POSITIVE,
        "takeProfit": Schema(
            one_of=[
                _object({"limitPrice": POSITIVE}, ("limitPrice",)),
                _object({"percent": TP_PERCENT}, ("percent",)),
                _object({"amount": POSITIVE}, ("amount",)),
            ],
            description="amount is a distance from the entry's fill",
        ),
        "stopLoss": Schema(
            one_of=[
                _object({"type": _choice("stop", "stop_limit"), key: schema}, (key,))
                for key, schema in (("stopPrice", POSITIVE), ("percent", PERCENT))
            ]
            + [
                _object({"type": _choice("stop", "stop_limit"), "amount": POSITIVE}, ("amount",)),
                _object(
                    {"type": _choice("trailing_stop"), "trailPercent": PERCENT}, ("trailPercent",)
                ),
            ],
            description="amount is a distance from the entry's fill, below a long's",
        ),
        "time": TIME,
    },
    ("ticker", "action"),
    "TradersPost's webhook JSON",
    all_of=[
        _needs("orderType", ("limit", "stop_limit"), Schema(required=["limitPrice"])),
        _needs("orderType", ("stop", "stop_limit"), Schema(required=["stopPrice"])),
        _needs(
            "quantityType",
            ("percent_of_equity", "risk_percent"),
            Schema(properties={"quantity": PERCENT}),
        ),
        _DISTANCE_NEEDS_SIDE,
        _needs(
            "action",
            ("add",),
            Schema(
                properties={"sentiment": _choice("bullish", "bearish", "long", "short")},
                required=["sentiment"],
            ),
        ),
    ],
)

THREECOMMAS = _object(
    {
        "secret": SECRET,
        "dialect": _choice("3commas"),
        "tv_instrument": TICKER,
        "tv_exchange": VENUE,
        "action": _choice("enter_long", "exit_long", "enter_short", "exit_short", "buy", "sell"),
        "bot_uuid": IDENT,
        "trigger_price": POSITIVE,
        "timestamp": TIME,
        "max_lag": LAG,
        "order": _object(
            {
                "amount": POSITIVE,
                "currency_type": _choice("base", "quote", "margin_percent", "position_percent"),
                "order_type": _choice("market", "limit"),
                "price": POSITIVE,
            },
            description="position_percent works only as 100 (all of it) on an exit",
            all_of=[
                _needs("currency_type", ("margin_percent",), Schema(properties={"amount": PERCENT}))
            ],
        ),
        "strategy_info": _object(
            {
                "market_position": MARKET_POSITION,
                "prev_market_position": MARKET_POSITION,
                "market_position_size": POSITIVE,
            }
        ),
    },
    ("tv_instrument", "action"),
    "3Commas signal-bot JSON",
    all_of=[
        Schema(  # a share of the position: only all of it, on an exit
            schema_if=Schema(
                properties={"order": _needs_value("currency_type", "position_percent")},
                required=["order"],
            ),
            then=Schema(
                properties={
                    "action": _choice("exit_long", "exit_short"),
                    "order": Schema(properties={"amount": Schema(enum=[100, "100"])}),
                }
            ),
        )
    ],
)
