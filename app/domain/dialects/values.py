"""Reading one alert value (number, time, text, choice, symbol) within the limits we accept.

Every reader takes the raw value and the path of its field, and raises InvalidAlert naming that
path. Numbers may be strings; confidence is 0..1 or a percent string ("75%"); times are ISO 8601
(naive = UTC), epoch seconds or epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from typing import TypeVar

from app.domain.dialects.results import InvalidAlert, invalid
from app.domain.symbols import SymbolError, normalize_symbol, venue_id

T = TypeVar("T")
Range = tuple[Decimal, Decimal]  # exclusive low, inclusive high
Instrument = tuple[str, str, str | None]  # the ticker as sent, the unified symbol, its venue

MAX_TEXT = 200  # ids, comments, names
MAX_ITEMS = 100  # keys of an object, items of a list, fields of a text alert
_MAX_DIGITS = 30  # of a JSON number
_MAX_NUMBER_TEXT = 60  # characters of a number sent as text

ONE = Decimal(1)
_NAN = Decimal("NaN")
# Precise enough for every number we accept, so that canonical() never rounds.
_EXACT = Context(prec=_MAX_NUMBER_TEXT)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_EPOCH_FROM = Decimal("1e11")  # 1e11 s is the year 5138: larger epochs are milliseconds
_EPOCH_RANGE: Range = (Decimal(0), Decimal("1e14"))  # 1e14 ms is the year 5138 too

POSITIVE: Range = (Decimal(0), Decimal("1e15"))
PERCENT: Range = (Decimal(0), Decimal(100))
TP_PERCENT: Range = (Decimal(0), Decimal(1000))
SHARE: Range = (Decimal(0), ONE)
LEVERAGE: Range = (Decimal(0), Decimal(1000))
_LAG: Range = (Decimal(0), Decimal(86400))


def check_placeholder(value: str, field: str) -> None:
    start = value.find("{{")
    end = value.find("}}", start) if start >= 0 else -1
    if end >= 0:
        raise InvalidAlert(
            f"TradingView did not fill the placeholder {value[start : end + 2][:60]} in {field}; "
            "check its spelling and that this alert type has it (strategy.* need a strategy).",
            field=field,
        )


def read_text(value: object, field: str, limit: int = MAX_TEXT) -> str:
    if type(value) is str:
        if "{{" in value:
            check_placeholder(value, field)
        text = value.strip()
        printable = text.isprintable()
        if not printable and len(text) <= 4 * limit:  # newlines and tabs become spaces
            text = " ".join(text.split())
            printable = text.isprintable()
    elif type(value) is int or type(value) is Decimal:
        text, printable = str(value), True
    else:
        raise invalid(field, "must be text")
    if len(text) > limit:
        raise invalid(field, f"must be at most {limit} characters")
    if not printable:
        raise invalid(field, "must not contain control characters")
    return text


def _read_decimal(value: object, field: str) -> Decimal:
    # type() rather than isinstance(): JSON true/false are bools, and bool is an int.
    if type(value) is Decimal:  # a JSON float; its literal may be arbitrarily long
        number = value if _digits(value) <= _MAX_DIGITS else _NAN
    elif type(value) is int:
        number = Decimal(value)
    elif type(value) is str:
        if "{{" in value:
            check_placeholder(value, field)
        try:
            number = Decimal(value) if len(value) <= _MAX_NUMBER_TEXT else _NAN
        except InvalidOperation:
            number = _NAN
    else:
        number = _NAN
    if not number.is_finite():
        raise invalid(field, "must be a finite number such as 0.5")
    return number


def _digits(number: Decimal) -> int:
    """The length of its coefficient (0 for zero); as_tuple() would take three times as long."""
    return len(str(number).partition("E")[0].lstrip("-0.").replace(".", ""))


def canonical(number: Decimal) -> Decimal:
    """One spelling for one value (65000.0 and 6.5E+4 -> 65000, 0.50 -> 0.5), so that equal
    numbers make equal signals and equal dedupe digests."""
    text = str(number)
    if "E" in text or (text[-1] == "0" and "." in text):  # else it has one spelling already
        number = number.normalize(_EXACT)
        if "E+" in str(number):  # a whole number: 6.5E+4 -> 65000
            number = number.quantize(ONE, context=_EXACT)
    return number


def read_number(value: object, field: str, within: Range = POSITIVE) -> Decimal:
    number = _read_decimal(value, field)
    if not within[0] < number <= within[1]:
        raise invalid(field, f"must be above {within[0]} and at most {within[1]:f}")
    if number.adjusted() < -18:  # finer than any venue trades: a unit mistake
        raise invalid(field, "is too small to trade; check its unit")
    if type(value) is int or (type(value) is str and value.isdigit()):
        return number  # a whole number without an exponent: it has one spelling already
    return canonical(number)


def read_confidence(value: object, field: str) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        number = _read_decimal(value.strip()[:-1], field) / 100
    else:
        number = _read_decimal(value, field)
    if not 0 <= number <= 1:
        raise invalid(field, "must be from 0 to 1, or a percent such as 75%")
    return float(number)


def read_time(value: object, field: str) -> datetime:
    if type(value) is str and not value.strip().replace(".", "", 1).isdigit():
        if "{{" in value:
            check_placeholder(value, field)
        try:
            moment = datetime.fromisoformat(value.strip())
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    elif type(value) in (str, int, Decimal):  # epoch seconds or milliseconds
        epoch = read_number(value, field, _EPOCH_RANGE)
        return _EPOCH + timedelta(seconds=float(epoch / 1000 if epoch >= _MS_EPOCH_FROM else epoch))
    raise invalid(field, "must be an ISO 8601 time such as 2024-05-01T12:00:00Z, or an epoch")


def read_lag(value: object, field: str) -> int:
    seconds = read_number(value, field, _LAG)
    if seconds != seconds.to_integral_value():
        raise invalid(field, "must be a whole number of seconds")
    return int(seconds)


def read_choice(value: object, field: str, table: Mapping[str, T]) -> T:
    word = read_text(value, field, 40).lower()
    if word not in table:
        raise invalid(field, f"must be one of: {', '.join(table)}")
    return table[word]


def read_symbol(value: object, field: str) -> Instrument:
    """The ticker as sent, the unified symbol, and the venue the ticker names (if any)."""
    ticker = read_text(value, field, 100)
    try:
        symbol, venue = normalize_symbol(ticker)
    except SymbolError as error:
        raise InvalidAlert(str(error), field=field) from None
    return ticker, symbol, venue


def read_venue(value: object, field: str) -> str:
    name = read_text(value, field, 40)
    if not (name.isascii() and name.replace("_", "").isalnum()):
        raise invalid(field, "must be an exchange name such as BINANCE")
    return venue_id(name)


def read_secret(value: object, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or len(str(value)) > 500:
        raise invalid(field, "must be text of at most 500 characters")  # never echo it
    return str(value).strip()
