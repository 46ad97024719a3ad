"""Request bodies that routes read raw, for the OpenAPI document: the webhook's alert in every
dialect (JSON and text) and the kill switch's reason.

These routes read their raw body themselves (TradingView posts JSON as text/plain; a switch takes
any text as its reason), so Litestar cannot derive the body from a `data` parameter: an
`operation_class` (Litestar's hook for a hand-made operation) puts it in.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import (
    Example,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType

from app.entrypoints.web.alert_schemas import (
    NATIVE,
    NUM,
    PCT,
    THREECOMMAS,
    TICKER_RE,
    TRADERSPOST,
    TRADINGVIEW,
    text,
)

_OCTOBOT = (
    rf"^(SECRET=[A-Za-z0-9_-]{{8,40}};)?(EXCHANGE=[A-Za-z][A-Za-z0-9_]{{0,19}};)?"
    rf"SYMBOL={TICKER_RE};SIGNAL=(BUY|SELL)(;ORDER_TYPE=MARKET)?(;VOLUME=({NUM}q?|{PCT}%))?"
    rf"(;PRICE={NUM})?(;TAKE_PROFIT_PRICE={NUM})?(;STOP_PRICE={NUM})?"
    r"(;REDUCE_ONLY=(true|false))?(;TAG=[A-Za-z0-9._-]{1,40})?$"
)
_PINE_EXITS = rf"(,(sl|slprice)={NUM})?(,(tp|tpprice)={NUM})?"  # sl=/tp=: distances
_PINECONNECTOR = (
    rf"^[A-Za-z0-9_-]{{8,40}},(((buy|sell|long|short|closelongsell|closeshortbuy),{TICKER_RE}"
    rf"(,risk={NUM})?(,price={NUM})?{_PINE_EXITS})|((buylimit|selllimit|buystop|sellstop),"
    rf"{TICKER_RE}(,risk={NUM})?,price={NUM}{_PINE_EXITS})|((closelong|closeshort|closeall),"
    rf"{TICKER_RE}))(,comment=[A-Za-z0-9 ]{{1,40}})?$"
)
TEXT = Schema(
    any_of=[
        text(_OCTOBOT, "OctoBot: KEY=VALUE pairs separated by ; or new lines, keys in any case"),
        text(
            _PINECONNECTOR,
            "PineConnector: LicenseID,command,symbol[,key=value...]; the licence id is the "
            "secret unless secret= is given; sl=/tp= are distances from the entry's fill, "
            "slprice=/tpprice= prices",
        ),
    ],
    description="TradingView posts every alert as text/plain: a JSON alert sent as text/plain "
    "is read like application/json",
)

_EXAMPLE_JSON = {
    "native": {
        "secret": "YOUR_WEBHOOK_SECRET",
        "symbol": "BINANCE:BTCUSDT",
        "action": "buy",
        "qty": "0.01",
        "price": "65000",
        "take_profit": [{"percent": 1, "share": 0.5}, {"percent": 3}],
        "stop_loss": {"percent": 1.5},
        "strategy": "my-strategy",
        "id": "long-1-2024-05-01T12:00:00Z",
    },
    "tradingview": {
        "secret": "YOUR_WEBHOOK_SECRET",
        "ticker": "BINANCE:BTCUSDT",
        "action": "buy",
        "contracts": "0.01",
        "price": "65000",
        "market_position": "long",
        "prev_market_position": "flat",
        "id": "tv-1-2024-05-01T12:00:00Z",
    },
    "traderspost": {
        "passphrase": "YOUR_WEBHOOK_SECRET",
        "ticker": "BTCUSDT",
        "action": "buy",
        "quantity": "0.01",
        "price": "65000",
        "takeProfit": {"percent": 2},
        "stopLoss": {"type": "stop", "percent": 1},
    },
    "3commas": {
        "secret": "YOUR_WEBHOOK_SECRET",
        "tv_exchange": "BINANCE",
        "tv_instrument": "BTCUSDT",
        "action": "enter_long",
        "bot_uuid": "my-bot",
        "trigger_price": "65000",
        "order": {"amount": "0.01", "currency_type": "base", "order_type": "market"},
    },
}
_EXAMPLE_TEXT = {
    "octobot": "SECRET=YOUR_WEBHOOK_SECRET;SYMBOL=BTCUSDT;SIGNAL=BUY;VOLUME=0.01;STOP_PRICE=60000",
    "pineconnector": "YOUR_WEBHOOK_SECRET,buy,BTCUSDT,risk=0.01,price=65000,sl=500,tp=1000",
}

ALERT_BODY = RequestBody(
    required=True,
    description="One alert, at most 64 KiB (a text alert at most 8 KiB). The README lists a "
    "TradingView template per dialect.",
    content={
        "application/json": OpenAPIMediaType(
            schema=Schema(one_of=[NATIVE, TRADINGVIEW, TRADERSPOST, THREECOMMAS]),
            examples={k: Example(summary=k, value=v) for k, v in _EXAMPLE_JSON.items()},
        ),
        "text/plain": OpenAPIMediaType(
            schema=TEXT,
            examples={k: Example(summary=k, value=v) for k, v in _EXAMPLE_TEXT.items()},
        ),
    },
)
SIGNATURE = Parameter(
    name="X-Signature",
    param_in="header",
    required=False,
    schema=text(r"^sha256=[0-9a-f]{64}$", "the body's signature"),
    description="instead of a secret in the body: sha256=<hex HMAC-SHA256 of the body with "
    "WEBHOOK_SECRET>",
)
RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
    description="seconds to wait before sending again",
)


@dataclass
class WebhookOperation(Operation):
    """The webhook's operation: the alert body, X-Signature, and Retry-After on its 429."""

    def __post_init__(self) -> None:
        self.request_body = ALERT_BODY
        self.parameters = [*(self.parameters or []), SIGNATURE]
        limited = (self.responses or {}).get("429")
        if isinstance(limited, OpenAPIResponse):
            limited.headers = {"Retry-After": RETRY_AFTER}


SWITCH_BODY = RequestBody(
    required=False,
    description='optional: {"reason": "..."}, or any other body, taken as the reason\'s text',
    content={
        "application/json": OpenAPIMediaType(
            schema=Schema(description="a JSON object with a reason"),
            examples={"reason": Example(value={"reason": "exchange maintenance"})},
        ),
        "text/plain": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)),
    },
)


@dataclass
class SwitchOperation(Operation):
    """A kill-switch operation: its optional reason."""

    def __post_init__(self) -> None:
        self.request_body = SWITCH_BODY
