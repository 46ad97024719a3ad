"""Settings from the environment, the only reader of os.environ: `load_settings()` reads every
setting once and reports every bad value at once, one sentence each."""

from __future__ import annotations

import enum
import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from app.config.notify import NotifySettings, read_notify
from app.config.numbers import decimal, real, whole
from app.config.reconciliation import baselines
from app.config.risk import (
    band_percent,
    basis_points,
    currency,
    default_size_error,
    entry_policy,
    interval,
    money,
    one_of,
    position_sync,
    qty_mode,
    quantity,
    seconds,
    step_percent,
    symbols,
    unprotected_policy,
)
from app.config.secrets import secrets_keys
from app.config.venues import (
    PAPER,
    MarketDataSettings,
    TradingMode,
    VenueSettings,
    read_market_data,
    read_venues,
)
from app.domain.execution_policy import ExecutionPolicy
from app.domain.reconciliation import DriftPolicy
from app.domain.risk_values import RiskLimits
from app.domain.signals import IntakePolicy, QtyMode
from app.domain.sizing import SizingPolicy

T = TypeVar("T")

# https://www.tradingview.com/support/solutions/43000529348 (webhook sender addresses)
TRADINGVIEW_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")
DEFAULT_DATABASE_URL = "sqlite:///signalgate.db"
MAX_BODY_BYTES = 64 * 1024

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class LogFormat(enum.StrEnum):
    """How each log record is written: see app/bootstrap/logs.py."""

    LOGFMT = "logfmt"
    JSON = "json"


class ConfigError(ValueError):
    """One or more settings are invalid; the message has one line per problem."""


@dataclass(frozen=True, slots=True)
class Settings:
    port: int = 8000
    web_concurrency: int = 1
    # None: use 127.0.0.1:6379 if it answers, else an embedded Redis
    redis_url: str | None = field(default=None, repr=False)
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    # PostgreSQL connections of each process's engine: kept open, and opened beyond that while
    # all are in use (README, "Database connections")
    db_pool_size: int = 5
    db_max_overflow: int = 5
    webhook_secret: str | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)
    # Fernet keys sealing stored connection keys, the one to seal with first
    secrets_keys: tuple[str, ...] = field(default=(), repr=False)
    connection_test_timeout_seconds: float = 20.0
    # Screening of alerts and strategy signals (thresholds, staleness, dedupe, rate limit).
    intake: IntakePolicy = field(default_factory=IntakePolicy)
    tradingview_ips_only: bool = False
    trusted_proxies: tuple[IPNetwork, ...] = ()
    trading_mode: TradingMode = TradingMode.PAPER
    queue_name: str = "signals"
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.LOGFMT
    venues: tuple[VenueSettings, ...] = field(
        default_factory=lambda: (VenueSettings(PAPER, PAPER, TradingMode.PAPER),)
    )
    market_data: MarketDataSettings = field(default_factory=MarketDataSettings)
    # The risk gate, sizing and execution (money in the quote currency); their defaults are the
    # domain's own.
    risk: RiskLimits = field(default_factory=RiskLimits)
    sizing: SizingPolicy = field(default_factory=SizingPolicy)
    execution: ExecutionPolicy = field(default_factory=ExecutionPolicy)
    monitor_interval_seconds: float = 0.5
    monitor_stream_interval_seconds: float = 10.0  # venues whose order stream is trusted
    # The strategy engine (`signalgate strategy`): none enabled unless named.
    strategies: tuple[str, ...] = ()
    strategy_settings: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    strategy_modules: tuple[str, ...] = ()
    strategy_gap_seconds: float = 30.0
    # Reconciliation with the venues (the monitor); no drift policy: by each venue's mode
    reconcile_interval_seconds: float = 30.0
    drift_policy: DriftPolicy | None = None
    reconcile_baselines: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)
    # Notifications (`signalgate notifier`): none sent unless NOTIFY_URLS names a channel
    notify: NotifySettings = field(default_factory=NotifySettings)


def database_url(raw: str) -> str:
    """Accept Heroku's `postgres://` form and pick the psycopg 3 driver for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def redis_url(raw: str) -> str:
    """Heroku Redis is `rediss://` with a self-signed certificate: skip verification unless told."""
    parts = urlsplit(raw)
    if parts.scheme != "rediss":
        return raw
    query = dict(parse_qsl(parts.query))
    query.setdefault("ssl_cert_reqs", "none")
    return urlunsplit(parts._replace(query=urlencode(query)))


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("use true or false")


def _stop_percent(raw: str) -> Decimal:
    """A stop-loss distance in percent of the entry: above 0 and below 100 (a long's stop at 0)."""
    hint = "use a percent above 0 and below 100, like 2"
    return decimal(raw, hint, Decimal(0), Decimal(100), above=True, below=True)


def _positive_int(raw: str) -> int:
    return whole(raw, "use a whole number above 0", 1)


def _whole(raw: str) -> int:
    return whole(raw, "use a whole number, 0 or more")


def _port(raw: str) -> int:
    return whole(raw, "use a port number from 1 to 65535", 1, 65535)


def _unit_interval(raw: str) -> float:
    return real(raw, "use a number from 0 to 1", 0.0, 1.0)


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    try:
        return tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in raw.split(",") if p.strip()
        )
    except ValueError:
        raise ValueError("use IP addresses or CIDR ranges separated by commas") from None


def _thresholds(raw: str) -> dict[str, float]:
    """`momentum=0.7,my_tv_strategy=0.5`."""
    result: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError("use name=number pairs separated by commas, like momentum=0.7")
        result[name.strip()] = _unit_interval(value)
    return result


def _names(raw: str) -> frozenset[str]:
    return frozenset(p.strip() for p in raw.split(",") if p.strip())


def _ordered_names(raw: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))


def _strategy_settings(raw: str) -> dict[str, dict[str, object]]:
    """`{"momentum": {"threshold": 0.004, "symbols": {"ETH/USDT": {"threshold": 0.008}}}}`."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ValueError(
            'use a JSON object of objects by strategy name, like {"momentum": {"threshold": 0.004}}'
        )
    return value


def _database(raw: str) -> str:
    url = database_url(raw.strip())
    if "://" not in url:
        raise ValueError("use a URL like postgres://user:pass@host/db or sqlite:///signalgate.db")
    return url


def _redis(raw: str) -> str:
    url = raw.strip()
    hint = "use a URL like redis://host:6379/0 or rediss://..."
    try:
        scheme = urlsplit(url).scheme
    except ValueError:
        raise ValueError(hint) from None
    if scheme not in {"redis", "rediss", "unix"}:
        raise ValueError(hint)
    return redis_url(url)


def _log_level(raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError("use DEBUG, INFO, WARNING or ERROR")
    return value


def _nonempty(raw: str) -> str:
    if not raw.strip():
        raise ValueError("it is empty; unset it or give it a value")
    return raw.strip()


_SECRETS = frozenset(
    {"webhook_secret", "api_token", "redis_url", "database_url", "secrets_keys", "notify.urls"}
)


Reader = Callable[[str, str, Callable[[str], object]], None]


def _read_risk(read: Reader, values: Mapping[str, object], errors: list[str]) -> None:
    """The risk gate's and sizing's settings (parsers in app/config/risk.py)."""
    read("MAX_ORDER_NOTIONAL", "risk.max_order_notional", money)
    read("MAX_TOTAL_EXPOSURE", "risk.max_total_exposure", money)
    read("MAX_OPEN_POSITIONS", "risk.max_open_positions", _positive_int)
    read("MAX_DAILY_LOSS", "risk.max_daily_loss", money)
    read("DAILY_LOSS_COUNTS_UNREALIZED", "risk.daily_loss_counts_unrealized", _bool)
    read("ACCOUNT_CURRENCY", "risk.currency", currency)
    read("STOP_LOSS_COOLDOWN_SECONDS", "risk.stop_loss_cooldown_seconds", seconds)
    read("MAX_ORDERS_PER_MINUTE", "risk.max_orders_per_minute", _positive_int)
    read("PRICE_BAND_PERCENT", "risk.price_band_percent", band_percent)
    read("SYMBOLS_ALLOW", "risk.allow_symbols", symbols)
    read("SYMBOLS_DENY", "risk.deny_symbols", symbols)
    read("REQUIRE_STOP_LOSS", "risk.require_stop_loss", _bool)
    read("DEFAULT_STOP_LOSS_PERCENT", "risk.default_stop_loss_percent", _stop_percent)
    read("DEFAULT_QTY_MODE", "sizing.default_mode", qty_mode)
    read("DEFAULT_QUANTITY", "sizing.default_quantity", quantity)
    read("ENTRY_POLICY", "execution.entry_policy", entry_policy)
    read("POSITION_SYNC", "execution.position_sync", position_sync)
    read("UNPROTECTED_POLICY", "execution.close_unprotected", unprotected_policy)
    read("SLIPPAGE_BPS", "execution.slippage_bps", basis_points)
    read("EXECUTION_MAX_DELAY_SECONDS", "execution.max_delay_seconds", _positive_int)
    read("TRAILING_MIN_INTERVAL_SECONDS", "execution.trailing_min_interval_seconds", seconds)
    read("TRAILING_MIN_STEP_PERCENT", "execution.trailing_min_step_percent", step_percent)
    read("MONITOR_INTERVAL_SECONDS", "monitor_interval_seconds", interval)
    read("MONITOR_STREAM_INTERVAL_SECONDS", "monitor_stream_interval_seconds", interval)
    read("STRATEGIES", "strategies", _ordered_names)
    read("STRATEGY_SETTINGS", "strategy_settings", _strategy_settings)
    read("STRATEGY_MODULES", "strategy_modules", _ordered_names)
    read("STRATEGY_GAP_SECONDS", "strategy_gap_seconds", interval)
    read("RECONCILE_INTERVAL_SECONDS", "reconcile_interval_seconds", interval)
    read("DRIFT_POLICY", "drift_policy", one_of(DriftPolicy))
    read("RECONCILE_BASELINES", "reconcile_baselines", baselines)
    # Both defaults (quote, 100) agree; only two set together can disagree.
    size_mode, size_quantity = (
        values.get("sizing.default_mode"),
        values.get("sizing.default_quantity"),
    )
    if isinstance(size_mode, QtyMode) and isinstance(size_quantity, Decimal):
        size_error = default_size_error(size_mode, size_quantity)
        if size_error:
            errors.append(size_error)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting from the environment; raise ConfigError naming each bad one."""
    env = os.environ if environ is None else environ
    errors: list[str] = []
    values: dict[str, object] = {}

    def read(name: str, attr: str, parse: Callable[[str], T]) -> None:
        raw = env.get(name)
        if raw is None:
            return
        try:
            values[attr] = parse(raw)
        except ValueError as exc:
            shown = "(hidden)" if attr in _SECRETS else repr(raw)
            errors.append(f"{name}={shown} is not valid: {exc}.")

    read("PORT", "port", _port)
    read("WEB_CONCURRENCY", "web_concurrency", _positive_int)
    read("REDIS_URL", "redis_url", _redis)
    read("DATABASE_URL", "database_url", _database)
    read("DB_POOL_SIZE", "db_pool_size", _positive_int)
    read("DB_MAX_OVERFLOW", "db_max_overflow", _whole)
    read("WEBHOOK_SECRET", "webhook_secret", _nonempty)
    read("API_TOKEN", "api_token", _nonempty)
    read("SECRETS_KEY", "secrets_keys", secrets_keys)
    read("CONNECTION_TEST_TIMEOUT_SECONDS", "connection_test_timeout_seconds", interval)
    read("CONFIDENCE_THRESHOLD", "intake.confidence_threshold", _unit_interval)
    read("CONFIDENCE_THRESHOLDS", "intake.strategy_thresholds", _thresholds)
    read("CONFIDENCE_REQUIRED", "intake.confidence_required", _names)
    read("SIGNAL_MAX_AGE_SECONDS", "intake.max_age_seconds", _positive_int)
    read("DEDUPE_WINDOW_SECONDS", "intake.dedupe_window_seconds", _positive_int)
    read("DEDUPE_ID_WINDOW_SECONDS", "intake.dedupe_id_window_seconds", _positive_int)
    read("RATE_LIMIT_PER_MINUTE", "intake.rate_limit_per_minute", _positive_int)
    read("TRADINGVIEW_IPS_ONLY", "tradingview_ips_only", _bool)
    read("TRUSTED_PROXIES", "trusted_proxies", _networks)
    read("TRADING_MODE", "trading_mode", one_of(TradingMode))
    read("QUEUE_NAME", "queue_name", _nonempty)
    read("LOG_LEVEL", "log_level", _log_level)
    read("LOG_FORMAT", "log_format", one_of(LogFormat))
    _read_risk(read, values, errors)
    read_notify(read, values, errors)

    mode = values.get("trading_mode", TradingMode.PAPER)
    assert isinstance(mode, TradingMode)
    if mode is TradingMode.LIVE and not values.get("webhook_secret"):
        errors.append("TRADING_MODE=live needs WEBHOOK_SECRET: set a long random secret.")
    # Real money: an entry without a stop-loss is refused unless the user says otherwise.
    values.setdefault("risk.require_stop_loss", mode is TradingMode.LIVE)
    if env.get("DYNO") and "DATABASE_URL" not in env:
        # the SQLite default would be a file of that dyno's own, seen by no other process
        errors.append(
            "DATABASE_URL is not set on this Heroku dyno: add the heroku-postgresql add-on "
            "(or set DATABASE_URL) instead of a SQLite file the dyno loses at its next restart."
        )
    values["venues"] = read_venues(env, mode, errors)
    values["market_data"] = read_market_data(env, errors)
    if errors:
        raise ConfigError("\n".join(errors))
    return _settings(values)


def _settings(values: Mapping[str, object]) -> Settings:
    """Settings from the values read, a `group.name` key going to that group's policy."""
    flat: dict[str, object] = {}
    groups: dict[str, dict[str, object]] = {
        "intake": {}, "risk": {}, "sizing": {}, "execution": {}, "notify": {}
    }  # fmt: skip
    for key, value in values.items():
        group, _, name = key.partition(".")
        if name:
            groups[group][name] = value
        else:
            flat[key] = value
    risk = RiskLimits(**groups["risk"])  # type: ignore[arg-type]
    return Settings(
        **flat,  # type: ignore[arg-type]
        intake=IntakePolicy(**groups["intake"]),  # type: ignore[arg-type]
        risk=risk,
        # computed sizes share the risk gate's cap on one order
        sizing=SizingPolicy(**groups["sizing"], max_order_notional=risk.max_order_notional),  # type: ignore[arg-type]
        execution=ExecutionPolicy(**groups["execution"]),  # type: ignore[arg-type]
        notify=NotifySettings(**groups["notify"]),  # type: ignore[arg-type]
    )
