"""Alert bodies in every supported dialect -> one Signal, or an error that says what to fix.

A JSON object is read by its keys (an explicit ``"dialect"`` key wins): ``tv_instrument``,
``bot_uuid`` or ``trigger_price`` -> 3commas; ``ticker`` with sentiment, quantityType, orderType,
takeProfit, stopLoss or limitPrice -> traderspost; ``ticker`` with contracts, market_position,
order_id or timenow -> tradingview; any other object with ``ticker`` -> traderspost (its minimal
form); the rest -> native. Text whose first field is ``KEY=VALUE`` is OctoBot; other
comma-separated text is PineConnector.

Mapping choices:
- All: numbers may be strings; confidence is 0..1 or a percent string ("75%"); times are ISO 8601
  (naive = UTC), epoch seconds or epoch milliseconds. A close keeps a quantity the alert gives (a
  partial close); without one it closes the whole position. Without an explicit order type, a
  limit price makes a limit order, a stop price a stop order, both a stop-limit. Take-profits
  without ``share`` split what the others leave equally. An explicit venue beats a ticker prefix.
- tradingview: ``market_position`` flat -> close the whole position (position_side from
  ``prev_market_position``, else the side the order closed: a sell closes a long); long after
  short or short after long (both given) -> reverse sized by ``market_position_size`` (Pine's
  ``contracts`` then includes the closed position); otherwise buy/sell ``contracts`` in base.
  ``order_id`` is not the alert id: Pine repeats it on every entry, so later alerts would look
  like duplicates; send ``id`` (e.g. "{{strategy.order.id}}-{{timenow}}") for that.
- traderspost: exit, or buy/sell with sentiment flat -> close (a buy closes a short); add -> buy or
  sell by sentiment; cancel is refused. quantityType fixed_quantity -> base, dollar_amount ->
  quote, percent_of_equity -> percent_equity, risk_percent (ours) -> risk_percent;
  risk_dollar_amount has no equivalent and is refused. takeProfit/stopLoss ``amount`` is a
  distance in price units from the entry; a stop_limit stop loss becomes a stop at stopPrice.
- 3commas: enter_long/enter_short -> buy/sell, exit_long/exit_short -> close that side; plain
  buy/sell read ``strategy_info`` like tradingview. currency_type base, quote, margin_percent ->
  percent_equity; position_percent is a share of the position, so only 100 (all) is accepted.
- octobot: VOLUME "0.1" base, "5%" percent_equity, "50q" quote (a%, s%, t% refused);
  ORDER_TYPE=STOP is a stop entry at STOP_PRICE, otherwise STOP_PRICE is the stop loss;
  REDUCE_ONLY=true turns SELL into close long and BUY into close short; TAG -> alert id.
- pineconnector: the licence id is the secret unless ``secret=`` is given; risk= -> base
  quantity; price= is the pending entry, or the reference price of a market order; sl=/tp= are
  distances in price units from that price (so they need it); slprice=/tpprice= are absolute.
  closelongsell/closeshortbuy reverse; closelongbuy/closeshortsell (close, then re-enter the same
  side) have no Signal equivalent and are refused.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, TypeVar

import msgspec

from app.domain.signals import (
    Action,
    OrderType,
    PositionSide,
    QtyMode,
    Signal,
    StopKind,
    StopLoss,
    TakeProfit,
)
from app.domain.symbols import SymbolError, normalize_symbol, venue_id

T = TypeVar("T")
_Range = tuple[Decimal, Decimal]  # exclusive low, inclusive high
_Table = dict[str, tuple[str, Callable[[object, str], Any]]]  # alert key -> Signal field, reader

DIALECTS = ("native", "tradingview", "traderspost", "3commas", "octobot", "pineconnector")
SECRET_FIELDS = frozenset({"secret", "passphrase", "token", "api_key", "apikey", "password"})

_MAX_TEXT = 200  # ids, comments, names
_MAX_TEXT_BODY = 8192  # text alerts
_MAX_DEPTH = 8
_MAX_ITEMS = 100  # keys of an object, items of a list, fields of a text alert
_MAX_TARGETS = 10
_MAX_DIGITS = 30
_ONE = Decimal(1)
_NAN = Decimal("NaN")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_EPOCH_FROM = Decimal("1e11")  # 1e11 s is the year 5138: larger epochs are milliseconds
_EPOCH_RANGE: _Range = (Decimal(0), Decimal("1e14"))  # 1e14 ms is the year 5138 too

_POSITIVE: _Range = (Decimal(0), Decimal("1e15"))
_PERCENT: _Range = (Decimal(0), Decimal(100))
_TP_PERCENT: _Range = (Decimal(0), Decimal(1000))
_SHARE: _Range = (Decimal(0), _ONE)
_LEVERAGE: _Range = (Decimal(0), Decimal(1000))
_LAG: _Range = (Decimal(0), Decimal(86400))

_decoder = msgspec.json.Decoder(float_hook=Decimal)  # JSON floats as exact Decimals


class AlertError(ValueError):
    """An alert we cannot act on; ``field`` names the JSON path or text key at fault, if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnparseableAlert(AlertError):
    """The body could not be read as any dialect (HTTP 400)."""


class InvalidAlert(AlertError):
    """The dialect was recognized but a field is wrong (HTTP 422)."""


class ParsedAlert(msgspec.Struct, frozen=True):
    """A parsed alert: its signal, its dialect, the secret it carried and a loggable copy.

    Log or store ``signal`` and ``sanitized``, never the whole struct encoded: it holds the secret.
    """

    signal: Signal
    dialect: str
    secret: str | None
    sanitized: dict[str, object] | str

    def __repr__(self) -> str:  # so that logging a ParsedAlert never prints the secret
        shown = None if self.secret is None else "***"
        return (
            f"ParsedAlert(signal={self.signal!r}, dialect={self.dialect!r}, secret={shown!r}, "
            f"sanitized={self.sanitized!r})"
        )


def parse_alert(body: bytes, *, strategy: str | None = None) -> ParsedAlert:
    """Read an alert body in any supported dialect.

    Args:
        body: the raw request body.
        strategy: the strategy named in the URL; it wins over one named in the body.

    Returns:
        The signal, the dialect, the secret for the caller to verify, and the payload with every
        secret-bearing field removed.

    Raises:
        UnparseableAlert: the body is no dialect at all.
        InvalidAlert: a dialect was recognized but a field is wrong; ``field`` names it.
    """
    text = body.removeprefix(codecs.BOM_UTF8).strip()
    if not text:
        raise UnparseableAlert("The alert is empty; send a JSON object or a text alert.")
    route = None if strategy is None else _text(strategy, "strategy")
    if text[:1] == b"{":
        return _parse_json(text, route)
    if text[:1] == b"[":
        raise UnparseableAlert("The alert is a JSON array; send one JSON object per alert.")
    return _parse_text(text, route)


# --- values -------------------------------------------------------------------------------------


def _invalid(field: str, problem: str) -> InvalidAlert:
    return InvalidAlert(f"{field} {problem}.", field=field)


def _missing(field: str, why: str = "add it to the alert message") -> InvalidAlert:
    return InvalidAlert(f"{field} is missing; {why}.", field=field)


def _check_placeholder(value: str, field: str) -> None:
    start = value.find("{{")
    end = value.find("}}", start) if start >= 0 else -1
    if end >= 0:
        raise InvalidAlert(
            f"TradingView did not fill the placeholder {value[start : end + 2][:60]} in {field}; "
            "check its spelling and that this alert type has it (strategy.* need a strategy).",
            field=field,
        )


def _text(value: object, field: str, limit: int = _MAX_TEXT) -> str:
    if type(value) is str:
        if "{{" in value:
            _check_placeholder(value, field)
        text = value.strip()
        if not text.isprintable() and len(text) <= 4 * limit:  # newlines and tabs become spaces
            text = " ".join(text.split())
    elif type(value) is int or type(value) is Decimal:
        text = str(value)
    else:
        raise _invalid(field, "must be text")
    if len(text) > limit:
        raise _invalid(field, f"must be at most {limit} characters")
    if not text.isprintable():
        raise _invalid(field, "must not contain control characters")
    return text


def _decimal(value: object, field: str) -> Decimal:
    # type() rather than isinstance(): JSON true/false are bools, and bool is an int.
    if type(value) is Decimal:  # a JSON float; its literal may be arbitrarily long
        number = value if len(value.as_tuple().digits) <= _MAX_DIGITS else _NAN
    elif type(value) is int:
        number = Decimal(value)
    elif type(value) is str:
        if "{{" in value:
            _check_placeholder(value, field)
        try:
            number = Decimal(value) if len(value) <= 60 else _NAN
        except InvalidOperation:
            number = _NAN
    else:
        number = _NAN
    if not number.is_finite():
        raise _invalid(field, "must be a finite number such as 0.5")
    return number


def _number(value: object, field: str, within: _Range = _POSITIVE) -> Decimal:
    number = _decimal(value, field)
    if not within[0] < number <= within[1]:
        raise _invalid(field, f"must be above {within[0]} and at most {within[1]:f}")
    if number.adjusted() < -18:  # finer than any venue trades: a unit mistake
        raise _invalid(field, "is too small to trade; check its unit")
    return number


def _confidence(value: object, field: str) -> float:
    if isinstance(value, str) and value.strip().endswith("%"):
        number = _decimal(value.strip()[:-1], field) / 100
    else:
        number = _decimal(value, field)
    if not 0 <= number <= 1:
        raise _invalid(field, "must be from 0 to 1, or a percent such as 75%")
    return float(number)


def _time(value: object, field: str) -> datetime:
    if type(value) is str and not value.strip().replace(".", "", 1).isdigit():
        _check_placeholder(value, field)
        try:
            moment = datetime.fromisoformat(value.strip())
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    elif type(value) in (str, int, Decimal):  # epoch seconds or milliseconds
        epoch = _number(value, field, _EPOCH_RANGE)
        return _EPOCH + timedelta(seconds=float(epoch / 1000 if epoch >= _MS_EPOCH_FROM else epoch))
    raise _invalid(field, "must be an ISO 8601 time such as 2024-05-01T12:00:00Z, or an epoch")


def _lag(value: object, field: str) -> int:
    seconds = _number(value, field, _LAG)
    if seconds != seconds.to_integral_value():
        raise _invalid(field, "must be a whole number of seconds")
    return int(seconds)


def _choice(value: object, field: str, table: Mapping[str, T]) -> T:
    word = _text(value, field, 40).lower()
    if word not in table:
        raise _invalid(field, f"must be one of: {', '.join(table)}")
    return table[word]


def _symbol(value: object, field: str) -> tuple[str, str, str | None]:
    ticker = _text(value, field, 100)
    try:
        symbol, venue = normalize_symbol(ticker)
    except SymbolError as error:
        raise InvalidAlert(str(error), field=field) from None
    return ticker, symbol, venue


def _venue(value: object, field: str) -> str:
    name = _text(value, field, 40)
    if not (name.isascii() and name.replace("_", "").isalnum()):
        raise _invalid(field, "must be an exchange name such as BINANCE")
    return venue_id(name)


def _secret(value: object, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or len(str(value)) > 500:
        raise _invalid(field, "must be text of at most 500 characters")  # never echo it
    return str(value).strip()


class _Fields:
    """One JSON object (or a text alert's pairs), read field by field; errors name the path."""

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
            raise _missing(self.prefix + keys[0])
        return found[1], found[0]

    def read(self, convert: Callable[[object, str], T], *keys: str) -> T | None:
        found = self.get(*keys)
        return None if found is None else convert(found[1], found[0])

    def number(self, *keys: str, within: _Range = _POSITIVE) -> Decimal | None:
        found = self.get(*keys)
        return None if found is None else _number(found[1], found[0], within)

    def choice(self, table: Mapping[str, T], *keys: str) -> T | None:
        found = self.get(*keys)
        return None if found is None else _choice(found[1], found[0], table)

    def child(self, key: str) -> _Fields:
        value = self.data.get(key)
        if value is not None and not isinstance(value, dict):
            raise _invalid(self.prefix + key, "must be a JSON object")
        return _Fields(value or {}, f"{self.prefix}{key}.")


def _read_table(f: _Fields, table: _Table) -> dict[str, Any]:
    """The Signal fields a table maps from the alert's keys; an earlier key beats its aliases."""
    found: dict[str, Any] = {}
    data = f.data
    for key, (name, read) in table.items():
        value = data.get(key)
        if value is not None and (type(value) is not str or value) and name not in found:
            found[name] = read(value, f.prefix + key)
    return found


# --- pieces shared by dialects --------------------------------------------------------------------

_ORDER_TYPES = {kind.value: kind for kind in OrderType}
_QTY_MODES = {mode.value: mode for mode in QtyMode}
_POSITION_SIDES = {side.value: side for side in PositionSide}
_MARKET_POSITIONS = {"long": "long", "short": "short", "flat": "flat"}
_SIDES = {"buy": Action.BUY, "sell": Action.SELL}
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
_PERCENT_MODES = (QtyMode.PERCENT_EQUITY, QtyMode.RISK_PERCENT)
_INFERRED_ORDER_TYPES = {
    (False, False): OrderType.MARKET,
    (True, False): OrderType.LIMIT,
    (False, True): OrderType.STOP,
    (True, True): OrderType.STOP_LIMIT,
}


def _order_type(
    named: OrderType | None, limit: Decimal | None, stop: Decimal | None, fields: tuple[str, str]
) -> OrderType:
    """The named order type, checked for its prices, or the one its prices imply."""
    if named is None:
        return _INFERRED_ORDER_TYPES[limit is not None, stop is not None]
    if named in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit is None:
        raise _missing(fields[0], f"a {named.value} order needs it")
    if named in (OrderType.STOP, OrderType.STOP_LIMIT) and stop is None:
        raise _missing(fields[1], f"a {named.value} order needs it")
    return named


def _quantity(f: _Fields, mode: QtyMode, *keys: str) -> Decimal | None:
    return f.number(*keys, within=_PERCENT if mode in _PERCENT_MODES else _POSITIVE)


def _strategy_intent(
    side: Action, f: _Fields, quantity: Decimal | None
) -> tuple[Action, PositionSide | None, Decimal | None]:
    """Action, position side and quantity from TradingView's strategy.*market_position values."""
    now = f.choice(_MARKET_POSITIONS, "market_position")
    before = f.choice(_MARKET_POSITIONS, "prev_market_position")
    if now == "flat":  # the strategy is flat after this order: close all, whatever contracts says
        return Action.CLOSE, _POSITION_SIDES.get(before or "", _closed_by(side)), None
    if now in _POSITION_SIDES and before in _POSITION_SIDES and now != before:
        return Action.REVERSE, _POSITION_SIDES[before], f.number("market_position_size")
    return side, None, quantity


def _closed_by(action: Action) -> PositionSide:
    """The position an order on this side closes: a sell closes a long."""
    return PositionSide.LONG if action is Action.SELL else PositionSide.SHORT


def _direction(action: Action, side: PositionSide | None) -> int | None:
    """+1 when the position ends long, -1 when short, None when it ends flat."""
    match action:
        case Action.BUY:
            return 1
        case Action.SELL:
            return -1
        case Action.REVERSE:
            return -1 if side is PositionSide.LONG else 1
        case _:
            return None


def _offset(entry: Decimal | None, distance: Decimal, sign: int | None, field: str) -> Decimal:
    """An absolute price ``distance`` away from the entry, beyond it by ``sign``."""
    if entry is None or sign is None:
        raise _invalid(field, "is a distance from the entry, so send a buy or sell with its price")
    price = entry + sign * distance
    if price <= 0:
        raise _invalid(field, "puts the price at or below zero; send a smaller distance")
    return price


_Target = tuple[Decimal | None, Decimal | None, Decimal | None]  # price, percent, share


def _take_profits(targets: list[_Target], field: str) -> tuple[TakeProfit, ...]:
    if len(targets) > _MAX_TARGETS:
        raise _invalid(field, f"may hold at most {_MAX_TARGETS} targets")
    if len(targets) == 1 and targets[0][2] is None:  # the common case
        return (TakeProfit(price=targets[0][0], percent=targets[0][1]),)
    shares = [share for _, _, share in targets]
    missing = [index for index, share in enumerate(shares) if share is None]
    rest = _ONE - sum((share for share in shares if share is not None), Decimal(0))
    if rest < 0 or (missing and rest == 0):
        raise _invalid(field, "shares must add up to at most 1, leaving some for targets without")
    if missing:
        even = (rest / len(missing)).quantize(Decimal("0.000001"), ROUND_DOWN)
        for index in missing[:-1]:
            shares[index] = even
        shares[missing[-1]] = rest - sum([even] * (len(missing) - 1), Decimal(0))
    return tuple(
        TakeProfit(price=price, percent=percent, share=share or _ONE)
        for (price, percent, _), share in zip(targets, shares, strict=True)
    )


def _native_take_profits(value: object, field: str) -> tuple[TakeProfit, ...]:
    """A price, ``{"price"|"percent", "share"}``, or a list of those."""
    items = value if isinstance(value, list) else [value]
    if len(items) > _MAX_TARGETS:
        raise _invalid(field, f"may hold at most {_MAX_TARGETS} targets")
    targets: list[_Target] = []
    for index, item in enumerate(items):
        where = f"{field}[{index}]" if isinstance(value, list) else field
        if not isinstance(item, dict):
            targets.append((_number(item, where), None, None))
            continue
        target = _Fields(item, f"{where}.")
        price, percent = target.number("price"), target.number("percent", within=_TP_PERCENT)
        if (price is None) == (percent is None):
            raise _invalid(where, "needs exactly one of price or percent")
        targets.append((price, percent, target.number("share", within=_SHARE)))
    return _take_profits(targets, field)


_NATIVE_STOPS = {
    "price": StopKind.PRICE,
    "percent": StopKind.PERCENT,
    "trailing_percent": StopKind.TRAILING,
}


def _native_stop_loss(value: object, field: str) -> StopLoss:
    """A price, or one of ``{"price"}``, ``{"percent"}``, ``{"trailing_percent"}``."""
    if not isinstance(value, dict):
        return StopLoss(kind=StopKind.PRICE, value=_number(value, field))
    given = [key for key in _NATIVE_STOPS if value.get(key) not in (None, "")]
    if len(given) != 1:
        raise _invalid(field, "needs exactly one of price, percent or trailing_percent")
    kind = _NATIVE_STOPS[given[0]]
    within = _POSITIVE if kind is StopKind.PRICE else _PERCENT
    return StopLoss(kind=kind, value=_number(value[given[0]], f"{field}.{given[0]}", within))


# --- JSON dialects ------------------------------------------------------------------------------

_NATIVE_ACTIONS = {
    "buy": Action.BUY,
    "long": Action.BUY,
    "sell": Action.SELL,
    "short": Action.SELL,
    "close": Action.CLOSE,
    "exit": Action.CLOSE,
    "flat": Action.CLOSE,
    "reverse": Action.REVERSE,
}


def _position_side(value: object, field: str) -> PositionSide:
    return _choice(value, field, _POSITION_SIDES)


def _leverage(value: object, field: str) -> Decimal:
    return _number(value, field, _LEVERAGE)


_NATIVE_FIELDS: _Table = {
    "strategy": ("strategy", _text),
    "account": ("account", _text),
    "venue": ("venue", _venue),
    "exchange": ("venue", _venue),
    "position_side": ("position_side", _position_side),
    "price": ("price", _number),
    "limit_price": ("limit_price", _number),
    "stop_price": ("stop_price", _number),
    "take_profit": ("take_profits", _native_take_profits),
    "stop_loss": ("stop_loss", _native_stop_loss),
    "leverage": ("leverage", _leverage),
    "confidence": ("confidence", _confidence),
    "id": ("alert_id", _text),
    "alert_id": ("alert_id", _text),
    "time": ("fired_at", _time),
    "timestamp": ("fired_at", _time),
    "max_lag": ("max_lag_seconds", _lag),
    "comment": ("comment", _text),
}


def _native(f: _Fields, route: str | None) -> Signal:
    ticker, symbol, venue = _symbol(*f.require("symbol"))
    action = _choice(*f.require("action", "side"), _NATIVE_ACTIONS)
    mode = f.choice(_QTY_MODES, "qty_mode") or QtyMode.BASE
    fields = _read_table(f, _NATIVE_FIELDS)
    limit, stop = fields.get("limit_price"), fields.get("stop_price")
    order_type = _order_type(
        f.choice(_ORDER_TYPES, "order_type"), limit, stop, ("limit_price", "stop_price")
    )
    fields.setdefault("venue", venue)
    if route:
        fields["strategy"] = route
    return Signal(
        symbol=symbol,
        action=action,
        source="tradingview:native",
        ticker=ticker,
        quantity=_quantity(f, mode, "qty", "quantity"),
        qty_mode=mode,
        order_type=order_type,
        **fields,
    )


_TRADINGVIEW_FIELDS: _Table = {
    "strategy": ("strategy", _text),
    "exchange": ("venue", _venue),
    "price": ("price", _number),
    "tp": ("take_profits", _native_take_profits),
    "sl": ("stop_loss", _native_stop_loss),
    "confidence": ("confidence", _confidence),
    "id": ("alert_id", _text),
    "alert_id": ("alert_id", _text),
    "timenow": ("fired_at", _time),  # the fire time beats {{time}}, the bar's open
    "time": ("fired_at", _time),
    "comment": ("comment", _text),
}


def _tradingview(f: _Fields, route: str | None) -> Signal:
    ticker, symbol, venue = _symbol(*f.require("ticker"))
    side = _choice(*f.require("action"), _SIDES)
    action, position_side, quantity = _strategy_intent(side, f, f.number("contracts"))
    fields = _read_table(f, _TRADINGVIEW_FIELDS)
    fields.setdefault("venue", venue)
    if route:
        fields["strategy"] = route
    return Signal(
        symbol=symbol,
        action=action,
        source="tradingview:tradingview",
        ticker=ticker,
        position_side=position_side,
        quantity=quantity,
        **fields,
    )


_TRADERSPOST_ACTIONS = {"buy": "buy", "sell": "sell", "exit": "exit", "add": "add"}
_SENTIMENTS = {
    "bullish": "long",
    "long": "long",
    "bearish": "short",
    "short": "short",
    "flat": "flat",
}
_TRADERSPOST_QTY = {
    "fixed_quantity": QtyMode.BASE,
    "dollar_amount": QtyMode.QUOTE,
    "percent_of_equity": QtyMode.PERCENT_EQUITY,
    "risk_percent": QtyMode.RISK_PERCENT,  # ours; TradersPost's risk_dollar_amount has no twin
}
_TRADERSPOST_STOPS = {"stop": "stop", "stop_limit": "stop", "trailing_stop": "trailing_stop"}


def _traderspost_intent(f: _Fields) -> tuple[Action, PositionSide | None]:
    value, field = f.require("action")
    if isinstance(value, str) and value.strip().lower() == "cancel":
        raise _invalid(field, "cancel is not supported yet; cancel the order on the venue")
    word = _choice(value, field, _TRADERSPOST_ACTIONS)
    sentiment = f.choice(_SENTIMENTS, "sentiment")
    if word == "exit":
        return Action.CLOSE, None
    if word == "add":
        if sentiment not in ("long", "short"):
            raise _invalid(f.prefix + "sentiment", "must be bullish or bearish with add")
        return (Action.BUY if sentiment == "long" else Action.SELL), None
    if sentiment == "flat":
        return Action.CLOSE, _closed_by(_SIDES[word])
    return _SIDES[word], None


def _traderspost_take_profit(
    tp: _Fields, entry: Decimal | None, sign: int | None
) -> tuple[TakeProfit, ...]:
    price, percent = tp.number("limitPrice"), tp.number("percent", within=_TP_PERCENT)
    amount = tp.number("amount")
    if (price, percent, amount).count(None) == 3:
        return ()
    if (price, percent, amount).count(None) != 2:
        raise _invalid(tp.prefix[:-1], "needs exactly one of limitPrice, percent or amount")
    if amount is not None:
        price = _offset(entry, amount, sign, tp.prefix + "amount")
    return (TakeProfit(price=price, percent=percent),)


def _traderspost_stop_loss(sl: _Fields, entry: Decimal | None, sign: int | None) -> StopLoss | None:
    amount = sl.number("amount")
    if amount is not None:  # below the entry of a long, above that of a short
        below = None if sign is None else -sign
        amount = _offset(entry, amount, below, sl.prefix + "amount")
    given = [
        (kind, value)
        for kind, value in (
            (StopKind.PRICE, sl.number("stopPrice")),
            (StopKind.PRICE, amount),
            (StopKind.PERCENT, sl.number("percent", within=_PERCENT)),
            (StopKind.TRAILING, sl.number("trailPercent", within=_PERCENT)),
        )
        if value is not None
    ]
    stop_type = sl.choice(_TRADERSPOST_STOPS, "type")
    if not given and stop_type is None:
        return None
    if len(given) != 1:
        raise _invalid(sl.prefix[:-1], "needs one of stopPrice, percent, trailPercent or amount")
    kind, value = given[0]
    if stop_type is not None and (stop_type == "trailing_stop") != (kind is StopKind.TRAILING):
        raise _invalid(
            sl.prefix + "type", "must be trailing_stop exactly when trailPercent is sent"
        )
    return StopLoss(kind=kind, value=value)


def _traderspost(f: _Fields, route: str | None) -> Signal:
    ticker, symbol, venue = _symbol(*f.require("ticker"))
    action, position_side = _traderspost_intent(f)
    mode = f.choice(_TRADERSPOST_QTY, "quantityType") or QtyMode.BASE
    limit, stop = f.number("limitPrice"), f.number("stopPrice")
    price = f.number("price", "signalPrice")
    entry, sign = limit or stop or price, _direction(action, position_side)
    return Signal(
        symbol=symbol,
        action=action,
        source="tradingview:traderspost",
        ticker=ticker,
        strategy=route,
        venue=venue,
        position_side=position_side,
        quantity=_quantity(f, mode, "quantity"),
        qty_mode=mode,
        order_type=_order_type(
            f.choice(_ORDER_TYPES, "orderType"), limit, stop, ("limitPrice", "stopPrice")
        ),
        price=price,
        limit_price=limit,
        stop_price=stop,
        take_profits=_traderspost_take_profit(f.child("takeProfit"), entry, sign),
        stop_loss=_traderspost_stop_loss(f.child("stopLoss"), entry, sign),
        fired_at=f.read(_time, "time"),
    )


_THREECOMMAS_ACTIONS: dict[str, tuple[Action, PositionSide | None]] = {
    "enter_long": (Action.BUY, None),
    "exit_long": (Action.CLOSE, PositionSide.LONG),
    "enter_short": (Action.SELL, None),
    "exit_short": (Action.CLOSE, PositionSide.SHORT),
    "buy": (Action.BUY, None),
    "sell": (Action.SELL, None),
}
# "position" is a percent of the open position, which no QtyMode expresses.
_THREECOMMAS_UNITS = {
    "base": "base",
    "quote": "quote",
    "margin_percent": "percent_equity",
    "position_percent": "position",
}
_THREECOMMAS_ORDER_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT}


def _threecommas(f: _Fields, route: str | None) -> Signal:
    ticker, symbol, venue = _symbol(*f.require("tv_instrument"))
    action, position_side = _choice(*f.require("action"), _THREECOMMAS_ACTIONS)
    order = f.child("order")
    unit = order.choice(_THREECOMMAS_UNITS, "currency_type") or "base"
    amount = order.number("amount", within=_POSITIVE if unit in ("base", "quote") else _PERCENT)
    if position_side is None:  # plain buy/sell from a strategy alert
        action, position_side, amount = _strategy_intent(action, f.child("strategy_info"), amount)
    if unit == "position":
        if action is not Action.CLOSE or amount not in (None, 100):
            raise _invalid(order.prefix + "currency_type", "position_percent works only as 100")
        unit, amount = "base", None
    price = f.number("trigger_price")
    order_type = order.choice(_THREECOMMAS_ORDER_TYPES, "order_type") or OrderType.MARKET
    limit = (order.number("price") or price) if order_type is OrderType.LIMIT else None
    return Signal(
        symbol=symbol,
        action=action,
        source="tradingview:3commas",
        ticker=ticker,
        strategy=route or f.read(_text, "bot_uuid"),
        venue=f.read(_venue, "tv_exchange") or venue,
        position_side=position_side,
        quantity=amount,
        qty_mode=QtyMode(unit),
        order_type=order_type,
        price=price,
        limit_price=limit,
        fired_at=f.read(_time, "timestamp"),
        max_lag_seconds=f.read(_lag, "max_lag"),
    )


_JSON_PARSERS: dict[str, Callable[[_Fields, str | None], Signal]] = {
    "native": _native,
    "tradingview": _tradingview,
    "traderspost": _traderspost,
    "3commas": _threecommas,
}
_JSON_DIALECTS = {name: name for name in _JSON_PARSERS}
_SECRET_KEYS = {"traderspost": ("passphrase", "secret")}  # the others: ("secret",)
_THREECOMMAS_MARKERS = frozenset({"tv_instrument", "bot_uuid", "trigger_price"})
_TRADERSPOST_MARKERS = frozenset(
    {"sentiment", "quantityType", "orderType", "takeProfit", "stopLoss", "limitPrice"}
)
_TRADINGVIEW_MARKERS = frozenset({"contracts", "market_position", "order_id", "timenow"})


def _detect(payload: dict[str, object]) -> str:
    if "dialect" in payload:
        return _choice(payload["dialect"], "dialect", _JSON_DIALECTS)
    if not _THREECOMMAS_MARKERS.isdisjoint(payload):
        return "3commas"
    if "ticker" not in payload:
        return "native"
    if _TRADERSPOST_MARKERS.isdisjoint(payload) and not _TRADINGVIEW_MARKERS.isdisjoint(payload):
        return "tradingview"
    return "traderspost"


def _parse_json(text: bytes, route: str | None) -> ParsedAlert:
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
    found = _Fields(payload).get(*_SECRET_KEYS.get(dialect, ("secret",)))
    secret = None if found is None else _secret(found[1], found[0])
    try:
        sanitized = _sanitize(payload, "", 0)
        signal = _JSON_PARSERS[dialect](_Fields(payload), route)
    except AlertError as error:
        raise _redact(error, secret) from None
    return ParsedAlert(signal=signal, dialect=dialect, secret=secret, sanitized=sanitized)


def _sanitize(payload: dict[str, object], path: str, depth: int) -> dict[str, object]:
    """A copy without secret-bearing keys; checks depth, size and placeholders on the way."""
    if depth >= _MAX_DEPTH or len(payload) > _MAX_ITEMS:
        raise _too_big(path)
    copy: dict[str, object] = {}
    for key, value in payload.items():
        if key.lower() in SECRET_FIELDS:
            continue
        if type(value) is dict or type(value) is list:
            copy[key] = _sanitize_value(value, path + key, depth)
            continue
        if type(value) is str and "{{" in value:  # inlined: most values are flat scalars
            _check_placeholder(value, path + key)
        copy[key] = value
    return copy


def _sanitize_value(value: object, where: str, depth: int) -> object:
    if type(value) is str:
        if "{{" in value:
            _check_placeholder(value, where)
    elif type(value) is dict:
        return _sanitize(value, where + ".", depth + 1)
    elif type(value) is list:
        if depth + 1 >= _MAX_DEPTH or len(value) > _MAX_ITEMS:
            raise _too_big(where)
        return [_sanitize_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
    return value


def _too_big(path: str) -> InvalidAlert:
    path = path.removesuffix(".")
    return InvalidAlert(
        f"{path or 'The alert'} nests deeper than {_MAX_DEPTH} levels or holds more than "
        f"{_MAX_ITEMS} items; send a smaller alert.",
        field=path or None,
    )


def _redact(error: AlertError, secret: str | None) -> AlertError:
    if secret and secret in error.message:
        return type(error)(error.message.replace(secret, "***"), field=error.field)
    return error


# --- text dialects ------------------------------------------------------------------------------


def _parse_text(body: bytes, route: str | None) -> ParsedAlert:
    if len(body) > _MAX_TEXT_BODY:
        raise UnparseableAlert(
            f"The alert is not JSON and longer than a text alert may be ({_MAX_TEXT_BODY} bytes); "
            "send a JSON object."
        )
    try:
        text = body.decode()
    except UnicodeDecodeError:
        text = "\x00"
    if not text.replace("\n", " ").replace("\r", " ").replace("\t", " ").isprintable():
        raise UnparseableAlert("The alert is neither JSON nor readable text; send JSON.")
    head = text.split("\n", 1)[0].split(";", 1)[0].split(",", 1)[0]
    if "=" in head:
        return _octobot(text, route)
    if "," in text:
        return _pineconnector(text, route)
    raise UnparseableAlert(
        "The alert is not JSON, OctoBot KEY=VALUE text or PineConnector comma text; "
        "send one of those."
    )


def _text_fields(
    dialect: str, pairs: dict[str, str], kept: list[str], separator: str
) -> tuple[_Fields, str]:
    """Check every value for placeholders and return the fields and the sanitized text."""
    if len(pairs) > _MAX_ITEMS:
        raise UnparseableAlert(f"The {dialect} alert has more than {_MAX_ITEMS} fields.")
    for key, value in pairs.items():
        _check_placeholder(value, key)
    return _Fields(pairs), separator.join(kept)


_OCTOBOT_SIGNALS = {"buy": Action.BUY, "sell": Action.SELL}
_OCTOBOT_ORDER_TYPES = {
    "market": OrderType.MARKET,
    "limit": OrderType.LIMIT,
    "stop": OrderType.STOP,
}
_OCTOBOT_SECRETS = ("SECRET", "TOKEN")
_TP_KEY = "TAKE_PROFIT_PRICE"


def _octobot(text: str, route: str | None) -> ParsedAlert:
    pairs: dict[str, str] = {}
    kept: list[str] = []
    for segment in text.replace(";", "\n").splitlines():
        key, equals, value = (part.strip() for part in segment.partition("="))
        if not (key or value):
            continue
        key = key.upper()
        if not equals or not key:  # never echo the line: it may hold the secret
            raise UnparseableAlert("Every line of an OctoBot alert must be KEY=VALUE; fix them.")
        if key in pairs:
            raise _invalid(key, "appears twice; keep one")
        pairs[key] = value
        if key not in _OCTOBOT_SECRETS:
            kept.append(f"{key}={value}")
    found = _Fields(pairs).get(*_OCTOBOT_SECRETS)
    secret = None if found is None else _secret(found[1], found[0])
    for key in _OCTOBOT_SECRETS:
        pairs.pop(key, None)
    try:
        f, sanitized = _text_fields("OctoBot", pairs, kept, "\n")
        signal = _octobot_signal(f, route)
    except AlertError as error:
        raise _redact(error, secret) from None
    return ParsedAlert(signal=signal, dialect="octobot", secret=secret, sanitized=sanitized)


def _octobot_volume(value: object, field: str) -> tuple[Decimal, QtyMode]:
    volume = _text(value, field, 40).lower()
    if volume[-2:] in ("a%", "s%", "t%") or volume.startswith("@"):
        raise _invalid(field, "must be an amount such as 0.1, 5% (of equity) or 50q (in quote)")
    if volume.endswith("%"):
        return _number(volume[:-1], field, _PERCENT), QtyMode.PERCENT_EQUITY
    if volume.endswith("q"):
        return _number(volume[:-1], field), QtyMode.QUOTE
    return _number(volume, field), QtyMode.BASE


def _octobot_signal(f: _Fields, route: str | None) -> Signal:
    ticker, symbol, venue = _symbol(*f.require("SYMBOL"))
    value, field = f.require("SIGNAL")
    if isinstance(value, str) and value.strip().lower() == "cancel":
        raise _invalid(field, "CANCEL is not supported yet; cancel the order on the venue")
    action, position_side = _choice(value, field, _OCTOBOT_SIGNALS), None
    if f.choice(_BOOLEANS, "REDUCE_ONLY"):  # reduce-only: it can only close
        action, position_side = Action.CLOSE, _closed_by(action)
    volume, mode = f.read(_octobot_volume, "VOLUME") or (None, QtyMode.BASE)
    order_type = f.choice(_OCTOBOT_ORDER_TYPES, "ORDER_TYPE") or OrderType.MARKET
    price, stop = f.number("PRICE"), f.number("STOP_PRICE")
    if order_type is OrderType.LIMIT and price is None:
        raise _missing("PRICE", "a LIMIT order needs it")
    if order_type is OrderType.STOP and stop is None:
        raise _missing("STOP_PRICE", "a STOP order needs it")
    limit = price if order_type is OrderType.LIMIT else None
    tp_keys = [key for key in f.data if key == _TP_KEY or _tp_index(key) is not None]
    tp_keys.sort(key=lambda key: _tp_index(key) or 0)
    targets: list[_Target] = [(f.number(key), None, None) for key in tp_keys]
    return Signal(
        symbol=symbol,
        action=action,
        source="tradingview:octobot",
        ticker=ticker,
        strategy=route,
        venue=f.read(_venue, "EXCHANGE") or venue,
        position_side=position_side,
        quantity=volume,
        qty_mode=mode,
        order_type=order_type,
        price=None if limit is not None else price,
        limit_price=limit,
        stop_price=stop if order_type is OrderType.STOP else None,
        take_profits=_take_profits(targets, _TP_KEY),
        stop_loss=None
        if stop is None or order_type is OrderType.STOP
        else StopLoss(kind=StopKind.PRICE, value=stop),
        alert_id=f.read(_text, "TAG"),
    )


def _tp_index(key: str) -> int | None:
    suffix = key.removeprefix(_TP_KEY + "_")
    if suffix == key or not (suffix.isascii() and suffix.isdigit() and len(suffix) <= 2):
        return None
    return int(suffix)


_PINECONNECTOR_COMMANDS = {
    "buy": (Action.BUY, None, OrderType.MARKET),
    "long": (Action.BUY, None, OrderType.MARKET),
    "sell": (Action.SELL, None, OrderType.MARKET),
    "short": (Action.SELL, None, OrderType.MARKET),
    "buylimit": (Action.BUY, None, OrderType.LIMIT),
    "selllimit": (Action.SELL, None, OrderType.LIMIT),
    "buystop": (Action.BUY, None, OrderType.STOP),
    "sellstop": (Action.SELL, None, OrderType.STOP),
    "closelong": (Action.CLOSE, PositionSide.LONG, OrderType.MARKET),
    "closeshort": (Action.CLOSE, PositionSide.SHORT, OrderType.MARKET),
    "closeall": (Action.CLOSE, None, OrderType.MARKET),
    "closelongsell": (Action.REVERSE, PositionSide.LONG, OrderType.MARKET),
    "closeshortbuy": (Action.REVERSE, PositionSide.SHORT, OrderType.MARKET),
}


def _pineconnector(text: str, route: str | None) -> ParsedAlert:
    fields = [field.strip() for field in text.split(",")]
    if len(fields) < 3 or len(fields) > _MAX_ITEMS:
        raise UnparseableAlert(
            "A PineConnector alert is LicenseID,command,symbol[,key=value...]; fix its fields."
        )
    pairs = {"command": fields[1], "symbol": fields[2]}
    kept = fields[1:3]
    for field in fields[3:]:
        key, equals, value = (part.strip() for part in field.partition("="))
        key = key.lower()
        if not equals or not key:  # never echo the field: it may hold the secret
            raise UnparseableAlert("Every PineConnector field after the symbol must be key=value.")
        if key in pairs:
            raise _invalid(key, "appears twice; keep one")
        pairs[key] = value.strip('"')
        if key not in SECRET_FIELDS:
            kept.append(f"{key}={value}")
    secret = _secret(pairs.pop("secret", None) or fields[0], "secret") or None
    try:
        f, sanitized = _text_fields("PineConnector", pairs, kept, ",")
        signal = _pineconnector_signal(f, route)
    except AlertError as error:
        raise _redact(error, secret) from None
    return ParsedAlert(signal=signal, dialect="pineconnector", secret=secret, sanitized=sanitized)


def _both_sent(field: str) -> Decimal:
    raise _invalid(field, f"and {field}price cannot both be sent; keep one")


def _pineconnector_signal(f: _Fields, route: str | None) -> Signal:
    ticker, symbol, venue = _symbol(*f.require("symbol"))
    action, position_side, order_type = _choice(*f.require("command"), _PINECONNECTOR_COMMANDS)
    price = f.number("price")
    if order_type is not OrderType.MARKET and price is None:
        raise _missing("price", "a pending order needs it")
    sign = _direction(action, position_side)
    below = None if sign is None else -sign
    take_profit, stop_loss = f.number("tpprice"), f.number("slprice")
    if (tp := f.number("tp")) is not None:
        take_profit = _offset(price, tp, sign, "tp") if take_profit is None else _both_sent("tp")
    if (sl := f.number("sl")) is not None:
        stop_loss = _offset(price, sl, below, "sl") if stop_loss is None else _both_sent("sl")
    return Signal(
        symbol=symbol,
        action=action,
        source="tradingview:pineconnector",
        ticker=ticker,
        strategy=route,
        venue=venue,
        position_side=position_side,
        quantity=f.number("risk"),
        order_type=order_type,
        price=price if order_type is OrderType.MARKET else None,
        limit_price=price if order_type is OrderType.LIMIT else None,
        stop_price=price if order_type is OrderType.STOP else None,
        take_profits=() if take_profit is None else (TakeProfit(price=take_profit),),
        stop_loss=None if stop_loss is None else StopLoss(kind=StopKind.PRICE, value=stop_loss),
        comment=f.read(_text, "comment"),
    )
