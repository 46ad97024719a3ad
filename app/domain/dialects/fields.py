"""One JSON object, or a text alert's key=value pairs, read field by field; errors name the path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from app.domain.dialects.results import invalid, missing
from app.domain.dialects.values import POSITIVE, Instrument, Range, T, read_choice, read_number
from app.domain.signals import Action, Signal

Table = dict[str, tuple[str, Callable[[object, str], Any]]]  # alert key -> Signal field, reader
TextPairs = tuple[dict[str, str], str, str | None]  # a text alert: its pairs, sanitized, secret


class Fields:
    """The values of one object; ``prefix`` is its path, for error messages."""

    __slots__ = ("data", "prefix")

    def __init__(self, data: Mapping[str, object], prefix: str = "") -> None:
        self.data = data
        self.prefix = prefix

    def get(self, *keys: str) -> tuple[str, object] | None:
        """The first of ``keys`` present, as (path, value); blank strings count as absent."""
        data = self.data
        for key in keys:
            value = data.get(key)
            if value is not None and (type(value) is not str or value):
                return self.prefix + key, value
        return None

    def require(self, *keys: str) -> tuple[object, str]:
        found = self.get(*keys)
        if found is None:
            raise missing(self.prefix + keys[0])
        return found[1], found[0]

    def read(self, convert: Callable[[object, str], T], *keys: str) -> T | None:
        found = self.get(*keys)
        return None if found is None else convert(found[1], found[0])

    def number(self, *keys: str, within: Range = POSITIVE) -> Decimal | None:
        found = self.get(*keys)
        return None if found is None else read_number(found[1], found[0], within)

    def choice(self, table: Mapping[str, T], *keys: str) -> T | None:
        found = self.get(*keys)
        return None if found is None else read_choice(found[1], found[0], table)

    def child(self, key: str) -> Fields:
        value = self.data.get(key)
        if value is not None and not isinstance(value, dict):
            raise invalid(self.prefix + key, "must be a JSON object")
        return Fields(value or {}, f"{self.prefix}{key}.")


def read_table(f: Fields, table: Table, *, route: str | None) -> dict[str, Any]:
    """The Signal fields a table maps from the alert's keys; an earlier key beats its aliases.

    The strategy named in the URL (``route``) beats the alert's.
    """
    found: dict[str, Any] = {}
    data = f.data
    for key, (name, read) in table.items():
        value = data.get(key)
        if value is not None and (type(value) is not str or value) and name not in found:
            found[name] = read(value, f.prefix + key)
    if route:
        found["strategy"] = route
    return found


def alert_signal(dialect: str, instrument: Instrument, action: Action, **fields: Any) -> Signal:
    """The Signal of an alert in `dialect` with its other `fields`; a venue the alert names
    beats the one its ticker names."""
    ticker, symbol, venue = instrument
    fields["venue"] = fields.get("venue") or venue
    return Signal(
        symbol=symbol, action=action, source=f"tradingview:{dialect}", ticker=ticker, **fields
    )
