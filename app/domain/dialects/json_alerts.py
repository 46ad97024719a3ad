"""A JSON alert: decode it, tell its dialect by its keys, strip its secrets, read its signal.

An explicit ``"dialect"`` key wins; otherwise ``tv_instrument``, ``bot_uuid`` or
``trigger_price`` -> 3commas; ``ticker`` with sentiment, quantityType, orderType, takeProfit,
stopLoss or limitPrice -> traderspost; ``ticker`` with contracts, market_position, order_id or
timenow -> tradingview; any other object with ``ticker`` -> traderspost (its minimal form); the
rest -> native.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import msgspec

from app.domain.dialects.fields import Fields
from app.domain.dialects.native import native_signal
from app.domain.dialects.results import (
    SECRET_FIELDS,
    AlertError,
    InvalidAlert,
    ParsedAlert,
    UnparseableAlert,
    redact,
)
from app.domain.dialects.threecommas import threecommas_signal
from app.domain.dialects.traderspost import traderspost_signal
from app.domain.dialects.tradingview import tradingview_signal
from app.domain.dialects.values import MAX_ITEMS, check_placeholder, read_choice, read_secret
from app.domain.signals import Signal

_MAX_DEPTH = 8

_decoder = msgspec.json.Decoder(float_hook=Decimal)  # JSON floats as exact Decimals

_SIGNAL_READERS: dict[str, Callable[[Fields, str | None], Signal]] = {
    "native": native_signal,
    "tradingview": tradingview_signal,
    "traderspost": traderspost_signal,
    "3commas": threecommas_signal,
}
_DIALECTS = {name: name for name in _SIGNAL_READERS}
_SECRET_KEYS = {"traderspost": ("passphrase", "secret")}  # the others: ("secret",)
_THREECOMMAS_MARKERS = frozenset({"tv_instrument", "bot_uuid", "trigger_price"})
_TRADERSPOST_MARKERS = frozenset(
    {"sentiment", "quantityType", "orderType", "takeProfit", "stopLoss", "limitPrice"}
)
_TRADINGVIEW_MARKERS = frozenset({"contracts", "market_position", "order_id", "timenow"})


def parse_json(text: bytes, route: str | None) -> ParsedAlert:
    try:
        payload = _decoder.decode(text)
    except msgspec.DecodeError as error:
        raise UnparseableAlert(
            f"The alert is not valid JSON ({error}); fix its template."
        ) from None
    except RecursionError:
        raise UnparseableAlert("The alert nests too deeply; send a flat JSON object.") from None
    if not isinstance(payload, dict):
        raise UnparseableAlert("The alert is not a JSON object; send one JSON object per alert.")
    dialect = _detect(payload)
    fields = Fields(payload)
    found = fields.get(*_SECRET_KEYS.get(dialect, ("secret",)))
    secret = None if found is None else read_secret(found[1], found[0])
    try:
        sanitized = _sanitize(payload, "", 0)
        signal = _SIGNAL_READERS[dialect](fields, route)
    except AlertError as error:
        raise redact(error, secret) from None
    return ParsedAlert(signal=signal, dialect=dialect, secret=secret, sanitized=sanitized)


def _detect(payload: dict[str, object]) -> str:
    if "dialect" in payload:
        return read_choice(payload["dialect"], "dialect", _DIALECTS)
    if not _THREECOMMAS_MARKERS.isdisjoint(payload):
        return "3commas"
    if "ticker" not in payload:
        return "native"
    if _TRADERSPOST_MARKERS.isdisjoint(payload) and not _TRADINGVIEW_MARKERS.isdisjoint(payload):
        return "tradingview"
    return "traderspost"


def _sanitize(payload: dict[str, object], path: str, depth: int) -> dict[str, object]:
    """A copy without secret-bearing keys; checks depth, size and placeholders on the way."""
    if depth >= _MAX_DEPTH or len(payload) > MAX_ITEMS:
        raise _too_big(path)
    copy: dict[str, object] = {}
    for key, value in payload.items():
        if key.lower() in SECRET_FIELDS:
            continue
        if type(value) is dict or type(value) is list:
            copy[key] = _sanitize_value(value, path + key, depth)
            continue
        if type(value) is str and "{{" in value:  # inlined: most values are flat scalars
            check_placeholder(value, path + key)
        copy[key] = value
    return copy


def _sanitize_value(value: object, where: str, depth: int) -> object:
    if type(value) is str:
        if "{{" in value:
            check_placeholder(value, where)
    elif type(value) is dict:
        return _sanitize(value, where + ".", depth + 1)
    elif type(value) is list:
        if depth + 1 >= _MAX_DEPTH or len(value) > MAX_ITEMS:
            raise _too_big(where)
        return [_sanitize_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    return value


def _too_big(path: str) -> InvalidAlert:
    path = path.removesuffix(".")
    return InvalidAlert(
        f"{path or 'The alert'} nests deeper than {_MAX_DEPTH} levels or holds more than "
        f"{MAX_ITEMS} items; send a smaller alert.",
        field=path or None,
    )
