"""Venue and market data settings, read from the environment mapping `app.config.settings`
hands over.

Modes are explicit per venue and never fall back: a paper venue trades on paper only, a ccxt venue
needs `<VENUE>_MODE=testnet|live` and its keys, and no venue may go beyond `TRADING_MODE`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from app.config.numbers import decimal

T = TypeVar("T")

PAPER = "paper"
DEFAULT_BALANCES = {"USDT": Decimal(50_000)}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


class TradingMode(enum.StrEnum):
    PAPER = "paper"
    TESTNET = "testnet"
    LIVE = "live"


_RANK = {TradingMode.PAPER: 0, TradingMode.TESTNET: 1, TradingMode.LIVE: 2}

# Exchanges refused at start, and why: no adapter can be proven against their API as documented.
REFUSED_EXCHANGES = {
    "orangex": (
        "OrangeX's API documentation could not be verified well enough to be sure of its order"
        " semantics (how an order is found again by its client order id, how its stop orders"
        " trigger, which of its documented methods exist), so signalgate does not trade it"
    ),
}


@dataclass(frozen=True, slots=True)
class VenueSettings:
    name: str  # lower-case, as in VENUES
    exchange: str  # "paper" or a ccxt exchange id with a profile (binance, binanceusdm, ...)
    mode: TradingMode
    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)
    api_password: str | None = field(default=None, repr=False)
    api_url: str | None = None  # a proxy or regional endpoint instead of the venue's own
    fee: Decimal = Decimal("0.001")  # paper: taker and maker fee
    balances: Mapping[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_BALANCES))
    price_offset_bps: Decimal = Decimal(0)  # paper: shifts the feed, so venues' prices differ
    unproven: bool = False  # `<VENUE>_UNPROVEN=accept`: trade a venue no road test proves
    leverage: Decimal = Decimal(1)  # swaps: an entry's leverage when its alert names none
    # `<VENUE>_STREAMS=on|off`: its order stream drives the monitor (None: on where the
    # venue's profile has a tested stream); `<VENUE>_STREAM_URL` instead of the venue's own
    streams: bool | None = None
    stream_url: str | None = None
    # `<VENUE>_REQUEST_BUDGET`: the monitor's and the reconciliation's requests a minute (None:
    # the profile's, below the venue's documented rate limit; 0: no budget)
    request_budget: int | None = None

    @property
    def is_paper(self) -> bool:
        return self.exchange == PAPER


@dataclass(frozen=True, slots=True)
class MarketDataSettings:
    source: str = "synthetic"  # synthetic | replay | ccxt
    path: str | None = None  # replay: the CSV or Parquet file
    exchange: str | None = None  # ccxt: the exchange id whose public data is read
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
    seed: int = 1
    record: str | None = None  # MARKET_DATA_RECORD: a CSV file's path, or "db"; None: not kept
    # MARKET_DATA_STREAM=on|off (ccxt): ticks from the venue's public book stream, polling the
    # fallback (None: on where the exchange's price stream is proven)
    stream: bool | None = None
    # PRICE_STREAM_MAX_AGE_SECONDS: a streamed book older than this is not a price, for the
    # feed and for every venue's quotes (the venue's REST is read instead)
    stream_max_age_seconds: float = 2.0


def _fee(raw: str) -> Decimal:
    return decimal(raw, "use a fraction from 0 to 0.1, like 0.001", Decimal(0), Decimal("0.1"))


def _offset(raw: str) -> Decimal:
    return decimal(raw, "use basis points from -1000 to 1000", Decimal(-1000), Decimal(1000))


def _setting(
    get: Callable[[str], str | None],
    prefix: str,
    key: str,
    parse: Callable[[str], T],
    errors: list[str],
) -> T | None:
    raw = get(key)
    if raw is None:
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        errors.append(f"{prefix}_{key}={raw!r} is not valid: {exc}.")
        return None


def _leverage(raw: str) -> Decimal:
    return decimal(raw, "use a number from 1 to 125, like 3", Decimal(1), Decimal(125))


def _on_off(raw: str) -> bool:
    if raw.lower() not in ("on", "off"):
        raise ValueError("use on or off")
    return raw.lower() == "on"


def _per_minute(raw: str) -> int:
    if not raw.isdigit() or int(raw) > 1_000_000:
        raise ValueError("use requests a minute, a whole number from 0 (no budget) to 1000000")
    return int(raw)


def _balances(raw: str) -> dict[str, Decimal]:
    hint = "use ASSET=amount pairs separated by commas, like USDT=50000,BTC=0.5"
    result: dict[str, Decimal] = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        asset, sep, amount = item.partition("=")
        if not sep or not asset.strip().isalnum():
            raise ValueError(hint)
        result[asset.strip().upper()] = decimal(amount, hint, Decimal(0), Decimal("1e15"))
    return result


def read_venues(
    env: Mapping[str, str], trading_mode: TradingMode, errors: list[str]
) -> tuple[VenueSettings, ...]:
    """`VENUES` (default `paper`) and each venue's `<VENUE>_...` settings; problems go to
    `errors`, one sentence each, secrets never shown."""
    names = [n.strip().lower() for n in env.get("VENUES", PAPER).split(",") if n.strip()]
    venues = []
    for name in names:
        if not _NAME.match(name):
            errors.append(
                f"VENUES has {name[:40]!r}: use names of letters, digits and _, like paper,binance."
            )
            continue
        venue = _read_venue(env, name, trading_mode, errors)
        if venue is not None:
            venues.append(venue)
    if not names:
        errors.append("VENUES is empty: name at least one venue, like paper.")
    return tuple(venues)


def _read_venue(
    env: Mapping[str, str], name: str, trading_mode: TradingMode, errors: list[str]
) -> VenueSettings | None:
    prefix = name.upper()

    def get(key: str) -> str | None:
        value = env.get(f"{prefix}_{key}")
        return value.strip() if value and value.strip() else None

    exchange = (get("EXCHANGE") or (PAPER if name.startswith(PAPER) else name)).lower()
    if exchange in REFUSED_EXCHANGES:
        errors.append(f"{prefix}_EXCHANGE={exchange} is refused: {REFUSED_EXCHANGES[exchange]}.")
        return None
    raw_mode = get("MODE")
    if exchange == PAPER:
        if raw_mode is not None and raw_mode.lower() != PAPER:
            errors.append(
                f"{prefix}_MODE={raw_mode!r} is not valid: a paper venue trades on paper only; "
                f"set {prefix}_EXCHANGE to a ccxt exchange id for testnet or live."
            )
            return None
        fee = _setting(get, prefix, "FEE", _fee, errors)
        balances = _setting(get, prefix, "BALANCES", _balances, errors)
        offset = _setting(get, prefix, "PRICE_OFFSET_BPS", _offset, errors)
        return VenueSettings(
            name=name,
            exchange=PAPER,
            mode=TradingMode.PAPER,
            fee=Decimal("0.001") if fee is None else fee,
            balances=dict(DEFAULT_BALANCES) if balances is None else balances,
            price_offset_bps=Decimal(0) if offset is None else offset,
        )

    if raw_mode is None or raw_mode.lower() not in (TradingMode.TESTNET, TradingMode.LIVE):
        shown = " is not set" if raw_mode is None else f"={raw_mode!r} is not valid"
        errors.append(
            f"{prefix}_MODE{shown}: use testnet or live (a ccxt venue never falls back to paper)."
        )
        return None
    mode = TradingMode(raw_mode.lower())
    if _RANK[mode] > _RANK[trading_mode]:
        errors.append(
            f"{prefix}_MODE={mode} needs TRADING_MODE={mode}"
            + (" or live" if mode is TradingMode.TESTNET else ": set both to trade real money")
            + f" (TRADING_MODE is {trading_mode})."
        )
        return None
    key, secret = get("API_KEY"), get("API_SECRET")
    if key is None or secret is None:
        errors.append(f"{prefix}_API_KEY and {prefix}_API_SECRET are needed for a {mode} venue.")
        return None
    unproven = get("UNPROVEN")
    if unproven is not None and unproven.lower() != "accept":
        errors.append(f"{prefix}_UNPROVEN={unproven!r} is not valid: use accept or leave it unset.")
        return None
    leverage = _setting(get, prefix, "LEVERAGE", _leverage, errors)
    streams = _setting(get, prefix, "STREAMS", _on_off, errors)
    budget = _setting(get, prefix, "REQUEST_BUDGET", _per_minute, errors)
    return VenueSettings(
        name=name,
        exchange=exchange,
        mode=mode,
        api_key=key,
        api_secret=secret,
        api_password=get("API_PASSWORD"),
        api_url=get("API_URL"),
        unproven=unproven is not None,
        leverage=Decimal(1) if leverage is None else leverage,
        streams=streams,
        stream_url=get("STREAM_URL"),
        request_budget=budget,
    )


def read_market_data(env: Mapping[str, str], errors: list[str]) -> MarketDataSettings:
    """`MARKET_DATA` (synthetic | replay:PATH | ccxt:EXCHANGE), `SYMBOLS`, `MARKET_DATA_SEED`,
    `MARKET_DATA_RECORD`, `MARKET_DATA_STREAM`, `PRICE_STREAM_MAX_AGE_SECONDS`."""
    raw = env.get("MARKET_DATA", "synthetic").strip()
    source, _, argument = raw.partition(":")
    settings = MarketDataSettings()
    if source == "synthetic" and not argument:
        pass
    elif source == "replay" and argument:
        settings = MarketDataSettings(source="replay", path=argument)
    elif source == "ccxt" and argument:
        settings = MarketDataSettings(source="ccxt", exchange=argument.lower())
    else:
        errors.append(
            f"MARKET_DATA={raw!r} is not valid: use synthetic, replay:FILE.csv or ccxt:EXCHANGE."
        )
    symbols = tuple(s.strip().upper() for s in env.get("SYMBOLS", "").split(",") if s.strip())
    if any("/" not in s for s in symbols):
        errors.append(f"SYMBOLS={env['SYMBOLS']!r} is not valid: use ccxt symbols like BTC/USDT.")
    record = env.get("MARKET_DATA_RECORD", "").strip() or None
    if record is not None and record != "db" and not record.lower().endswith(".csv"):
        errors.append(
            f"MARKET_DATA_RECORD={record!r} is not valid: use a file name ending in .csv, or db."
        )
    stream = None
    if raw_stream := env.get("MARKET_DATA_STREAM", "").strip():
        try:
            stream = _on_off(raw_stream)
        except ValueError as error:
            errors.append(f"MARKET_DATA_STREAM={raw_stream!r} is not valid: {error}.")
    max_age = env.get("PRICE_STREAM_MAX_AGE_SECONDS", "2").strip()
    try:
        stream_max_age = float(max_age)
    except ValueError:
        stream_max_age = -1.0
    if not 0.1 <= stream_max_age <= 60:  # nan too
        errors.append(f"PRICE_STREAM_MAX_AGE_SECONDS={max_age!r} is not valid: use seconds from"
                      " 0.1 to 60, like 2.")  # fmt: skip
        stream_max_age = 2.0
    seed = env.get("MARKET_DATA_SEED", "1").strip()
    if not seed.isdigit():
        errors.append(f"MARKET_DATA_SEED={seed!r} is not valid: use a whole number.")
    return MarketDataSettings(
        source=settings.source,
        path=settings.path,
        exchange=settings.exchange,
        symbols=symbols or settings.symbols,
        seed=int(seed) if seed.isdigit() else 1,
        record=record,
        stream=stream,
        stream_max_age_seconds=stream_max_age,
    )
