"""Settings from the environment: every value parsed, every bad one reported, no secret shown."""

from __future__ import annotations

import dataclasses
from datetime import time
from decimal import Decimal
from ipaddress import ip_network
from operator import attrgetter
from typing import Any

import pytest

from app.config.notify import NotifySettings
from app.config.settings import (
    ConfigError,
    Settings,
    TradingMode,
    database_url,
    load_settings,
    redis_url,
)
from app.config.venues import MarketDataSettings, VenueSettings
from app.domain.execution_policy import EntryPolicy
from app.domain.notifications import Routes
from app.domain.reconciliation import DriftPolicy
from app.domain.risk_values import RiskLimits
from app.domain.signals import IntakePolicy, QtyMode
from app.domain.sizing import SizingPolicy

SECRET = "wh-s3cret-9f8e7d"
TOKEN = "api-t0ken-1a2b3c"
PASSWORD = "hunter2-pw"
FERNET_NEW = "k" * 43 + "="  # 32 bytes of URL-safe base64, as Fernet keys are
FERNET_OLD = "Zm9v" * 10 + "YmE="


def refusal(environ: dict[str, str]) -> list[str]:
    """The lines of the ConfigError that `environ` is refused with."""
    with pytest.raises(ConfigError) as refused:
        load_settings(environ)
    return str(refused.value).splitlines()


DEFAULTS = [
    ("port", 8000),
    ("web_concurrency", 1),
    ("redis_url", None),
    ("database_url", "sqlite:///signalgate.db"),
    ("db_pool_size", 5),
    ("db_max_overflow", 5),
    ("webhook_secret", None),
    ("api_token", None),
    ("secrets_keys", ()),
    ("connection_test_timeout_seconds", 20.0),
    ("intake.confidence_threshold", 0.6),
    ("intake.strategy_thresholds", {}),
    ("intake.confidence_required", frozenset()),
    ("intake.max_age_seconds", 120),
    ("intake.dedupe_window_seconds", 60),
    ("intake.dedupe_id_window_seconds", 86_400),
    ("intake.rate_limit_per_minute", 600),
    ("tradingview_ips_only", False),
    ("trusted_proxies", ()),
    ("trading_mode", TradingMode.PAPER),
    ("queue_name", "signals"),
    ("log_level", "INFO"),
    ("log_format", "logfmt"),
    ("venues", (VenueSettings("paper", "paper", TradingMode.PAPER),)),
    ("market_data", MarketDataSettings()),
    ("risk.max_order_notional", Decimal(1000)),
    ("risk.max_total_exposure", Decimal(5000)),
    ("risk.max_open_positions", 5),
    ("risk.max_daily_loss", Decimal(500)),
    ("risk.daily_loss_counts_unrealized", True),
    ("risk.currency", "USDT"),
    ("risk.stop_loss_cooldown_seconds", 900),
    ("risk.max_orders_per_minute", 30),
    ("risk.price_band_percent", Decimal(2)),
    ("risk.allow_symbols", frozenset()),
    ("risk.deny_symbols", frozenset()),
    ("risk.require_stop_loss", False),  # true under TRADING_MODE=live, tested below
    ("risk.default_stop_loss_percent", None),
    ("sizing.default_mode", QtyMode.QUOTE),
    ("sizing.default_quantity", Decimal(100)),
    ("execution.entry_policy", EntryPolicy.IGNORE),
    ("execution.close_unprotected", True),
    ("execution.slippage_bps", Decimal(50)),
    ("execution.trailing_min_interval_seconds", 5),
    ("execution.trailing_min_step_percent", Decimal("0.1")),
    ("monitor_interval_seconds", 0.5),
    ("monitor_stream_interval_seconds", 10.0),
    ("strategies", ()),
    ("strategy_settings", {}),
    ("strategy_modules", ()),
    ("strategy_gap_seconds", 30.0),
    ("reconcile_interval_seconds", 30.0),
    ("drift_policy", None),  # by each venue's mode: test_reconciliation.py
    ("reconcile_baselines", {}),
    ("notify.urls", ()),
    ("notify.routes", Routes(())),
    ("notify.per_minute", 20),
    ("notify.summary_at", time(0, 0)),
]


@pytest.mark.parametrize(("attr", "default"), DEFAULTS)
def test_an_empty_environment_gives_the_defaults(attr: str, default: object) -> None:
    assert attrgetter(attr)(load_settings({})) == default


def test_the_defaults_table_covers_every_setting() -> None:
    # a policy's settings are `policy.field`; the policies' defaults are the domain's own
    tops = list(dict.fromkeys(attr.split(".")[0] for attr, _ in DEFAULTS))
    assert tops == list(Settings.__dataclass_fields__)


# (variable, raw value, setting, parsed value)
PARSED = [
    ("PORT", " 5000 ", "port", 5000),
    ("PORT", "65535", "port", 65535),
    ("WEB_CONCURRENCY", "4", "web_concurrency", 4),
    ("REDIS_URL", "redis://cache:6379/1", "redis_url", "redis://cache:6379/1"),
    ("REDIS_URL", "unix:///tmp/redis.sock", "redis_url", "unix:///tmp/redis.sock"),
    ("DATABASE_URL", "sqlite:///tmp/x.db", "database_url", "sqlite:///tmp/x.db"),
    ("DB_POOL_SIZE", " 2 ", "db_pool_size", 2),
    ("DB_MAX_OVERFLOW", "0", "db_max_overflow", 0),
    ("DB_MAX_OVERFLOW", "10", "db_max_overflow", 10),
    ("WEBHOOK_SECRET", f"  {SECRET}\n", "webhook_secret", SECRET),
    ("API_TOKEN", TOKEN, "api_token", TOKEN),
    ("SECRETS_KEY", f" {FERNET_NEW} ", "secrets_keys", (FERNET_NEW,)),
    ("SECRETS_KEY", f"{FERNET_NEW},{FERNET_OLD},", "secrets_keys", (FERNET_NEW, FERNET_OLD)),
    ("CONNECTION_TEST_TIMEOUT_SECONDS", "5", "connection_test_timeout_seconds", 5.0),
    ("CONFIDENCE_THRESHOLD", "0.75", "intake.confidence_threshold", 0.75),
    ("CONFIDENCE_THRESHOLD", "0", "intake.confidence_threshold", 0.0),
    ("CONFIDENCE_THRESHOLD", "1", "intake.confidence_threshold", 1.0),
    (
        "CONFIDENCE_THRESHOLDS",
        "momentum=0.7,x=0.5",
        "intake.strategy_thresholds",
        {"momentum": 0.7, "x": 0.5},
    ),
    (
        "CONFIDENCE_THRESHOLDS",
        " momentum = 0.7 , , my_tv_strategy=1 ,",
        "intake.strategy_thresholds",
        {"momentum": 0.7, "my_tv_strategy": 1.0},
    ),
    ("CONFIDENCE_THRESHOLDS", "", "intake.strategy_thresholds", {}),
    (
        "CONFIDENCE_REQUIRED",
        "momentum, breakout,,",
        "intake.confidence_required",
        {"momentum", "breakout"},
    ),
    ("SIGNAL_MAX_AGE_SECONDS", "30", "intake.max_age_seconds", 30),
    ("DEDUPE_WINDOW_SECONDS", "15", "intake.dedupe_window_seconds", 15),
    ("DEDUPE_ID_WINDOW_SECONDS", "3600", "intake.dedupe_id_window_seconds", 3600),
    ("RATE_LIMIT_PER_MINUTE", "120", "intake.rate_limit_per_minute", 120),
    ("TRADINGVIEW_IPS_ONLY", "true", "tradingview_ips_only", True),
    ("TRADINGVIEW_IPS_ONLY", " YES ", "tradingview_ips_only", True),
    ("TRADINGVIEW_IPS_ONLY", "on", "tradingview_ips_only", True),
    ("TRADINGVIEW_IPS_ONLY", "1", "tradingview_ips_only", True),
    ("TRADINGVIEW_IPS_ONLY", "off", "tradingview_ips_only", False),
    ("TRADINGVIEW_IPS_ONLY", "", "tradingview_ips_only", False),
    ("TRADING_MODE", "TestNet", "trading_mode", TradingMode.TESTNET),
    ("QUEUE_NAME", " orders ", "queue_name", "orders"),
    ("LOG_LEVEL", "debug", "log_level", "DEBUG"),
    ("LOG_FORMAT", " JSON ", "log_format", "json"),
    ("LOG_FORMAT", "logfmt", "log_format", "logfmt"),
    ("MAX_ORDER_NOTIONAL", " 250.5 ", "risk.max_order_notional", Decimal("250.5")),
    ("MAX_TOTAL_EXPOSURE", "20000", "risk.max_total_exposure", Decimal(20_000)),
    ("MAX_OPEN_POSITIONS", "2", "risk.max_open_positions", 2),
    ("MAX_DAILY_LOSS", "75", "risk.max_daily_loss", Decimal(75)),
    ("DAILY_LOSS_COUNTS_UNREALIZED", "false", "risk.daily_loss_counts_unrealized", False),
    ("ACCOUNT_CURRENCY", " usdc ", "risk.currency", "USDC"),
    ("STOP_LOSS_COOLDOWN_SECONDS", "0", "risk.stop_loss_cooldown_seconds", 0),
    ("STOP_LOSS_COOLDOWN_SECONDS", "3600", "risk.stop_loss_cooldown_seconds", 3600),
    ("MAX_ORDERS_PER_MINUTE", "5", "risk.max_orders_per_minute", 5),
    ("PRICE_BAND_PERCENT", "0.5", "risk.price_band_percent", Decimal("0.5")),
    ("PRICE_BAND_PERCENT", "100", "risk.price_band_percent", Decimal(100)),
    (
        "SYMBOLS_ALLOW",
        " btc/usdt, ETH/USDT:USDT ,,",
        "risk.allow_symbols",
        frozenset({"BTC/USDT", "ETH/USDT:USDT"}),
    ),
    ("SYMBOLS_ALLOW", "", "risk.allow_symbols", frozenset()),
    ("SYMBOLS_DENY", "DOGE/USDT", "risk.deny_symbols", frozenset({"DOGE/USDT"})),
    ("REQUIRE_STOP_LOSS", "true", "risk.require_stop_loss", True),
    ("REQUIRE_STOP_LOSS", "no", "risk.require_stop_loss", False),
    ("DEFAULT_STOP_LOSS_PERCENT", " 2.5 ", "risk.default_stop_loss_percent", Decimal("2.5")),
    ("DEFAULT_QTY_MODE", " Percent_Equity ", "sizing.default_mode", QtyMode.PERCENT_EQUITY),
    ("DEFAULT_QTY_MODE", "risk_percent", "sizing.default_mode", QtyMode.RISK_PERCENT),
    ("DEFAULT_QUANTITY", "0.01", "sizing.default_quantity", Decimal("0.01")),
    ("ENTRY_POLICY", " Add ", "execution.entry_policy", EntryPolicy.ADD),
    ("ENTRY_POLICY", "reverse", "execution.entry_policy", EntryPolicy.REVERSE),
    ("UNPROTECTED_POLICY", "keep", "execution.close_unprotected", False),
    ("UNPROTECTED_POLICY", "close", "execution.close_unprotected", True),
    ("SLIPPAGE_BPS", "25", "execution.slippage_bps", Decimal(25)),
    ("EXECUTION_MAX_DELAY_SECONDS", "90", "execution.max_delay_seconds", 90),
    ("TRAILING_MIN_INTERVAL_SECONDS", "0", "execution.trailing_min_interval_seconds", 0),
    ("TRAILING_MIN_INTERVAL_SECONDS", "30", "execution.trailing_min_interval_seconds", 30),
    ("TRAILING_MIN_STEP_PERCENT", "0", "execution.trailing_min_step_percent", Decimal(0)),
    ("TRAILING_MIN_STEP_PERCENT", " 0.25 ", "execution.trailing_min_step_percent", Decimal("0.25")),
    ("MONITOR_INTERVAL_SECONDS", "2", "monitor_interval_seconds", 2.0),
    ("MONITOR_STREAM_INTERVAL_SECONDS", "30", "monitor_stream_interval_seconds", 30.0),
    (
        "STRATEGIES",
        "momentum, mean_reversion,momentum",
        "strategies",
        ("momentum", "mean_reversion"),
    ),
    (
        "STRATEGY_SETTINGS",
        '{"momentum": {"threshold": 0.01}}',
        "strategy_settings",
        {"momentum": {"threshold": 0.01}},
    ),
    ("STRATEGY_MODULES", "my_strategies", "strategy_modules", ("my_strategies",)),
    ("STRATEGY_GAP_SECONDS", "60", "strategy_gap_seconds", 60.0),
    ("RECONCILE_INTERVAL_SECONDS", "5", "reconcile_interval_seconds", 5.0),
    ("DRIFT_POLICY", " Reduce_Only ", "drift_policy", DriftPolicy.REDUCE_ONLY),
    ("DRIFT_POLICY", "halt", "drift_policy", DriftPolicy.HALT),
    (
        "RECONCILE_BASELINES",
        " Binance.BTC=0.5, binanceusdm.BTC/USDT:USDT=-0.1,,",
        "reconcile_baselines",
        {("binance", "BTC"): Decimal("0.5"), ("binanceusdm", "BTC/USDT:USDT"): Decimal("-0.1")},
    ),
    (
        "NOTIFY_URLS",
        f" tgram://1:{PASSWORD}/2 ,json://h/x,",
        "notify.urls",
        (f"tgram://1:{PASSWORD}/2", "json://h/x"),
    ),
    ("NOTIFY_EVENTS", "", "notify.routes", Routes(())),
    ("NOTIFY_RATE_PER_MINUTE", "30", "notify.per_minute", 30),
    ("NOTIFY_SUMMARY_AT", "21:30", "notify.summary_at", time(21, 30)),
]


# Each policy's fields a setting fills (the rest are not settings: the sizing cap is the risk
# gate's, the book depth the router's own).
_POLICIES = {
    "intake": [f.name for f in dataclasses.fields(IntakePolicy)],
    "risk": list(RiskLimits.__struct_fields__),
    "sizing": ["default_mode", "default_quantity"],
    "execution": [
        "entry_policy",
        "close_unprotected",
        "slippage_bps",
        "max_delay_seconds",
        "trailing_min_interval_seconds",
        "trailing_min_step_percent",
    ],
    "notify": [f.name for f in dataclasses.fields(NotifySettings)],
}


@pytest.mark.parametrize(("variable", "raw", "attr", "parsed"), PARSED)
def test_every_setting_is_parsed(variable: str, raw: str, attr: str, parsed: object) -> None:
    assert attrgetter(attr)(load_settings({variable: raw})) == parsed


def test_the_parsing_table_covers_every_setting() -> None:
    # trusted_proxies is tested below; venues and market data in test_config_venues.py
    parsed = {attr for _, _, attr, _ in PARSED} | {"trusted_proxies", "venues", "market_data"}
    readable = {
        f"{name}.{field}" if name in _POLICIES else name
        for name in Settings.__dataclass_fields__
        for field in _POLICIES.get(name, [name])
    }
    assert parsed == readable


def test_settings_are_read_together() -> None:
    settings = load_settings(
        {"PORT": "5000", "TRADING_MODE": "testnet", "CONFIDENCE_THRESHOLDS": "momentum=0.7"}
    )
    assert (settings.port, settings.trading_mode) == (5000, TradingMode.TESTNET)
    assert settings.intake.strategy_thresholds == {"momentum": 0.7}
    assert settings.log_level == "INFO"


@pytest.mark.parametrize(
    ("raw", "networks"),
    [
        ("10.0.0.0/8", ("10.0.0.0/8",)),
        ("10.0.0.0/8, 192.168.1.7 ,,", ("10.0.0.0/8", "192.168.1.7/32")),
        ("10.1.2.3/8", ("10.0.0.0/8",)),  # host bits are dropped, not refused
        ("::1, fd00::/8", ("::1/128", "fd00::/8")),
        ("", ()),
    ],
)
def test_trusted_proxies_are_addresses_or_cidr_ranges(raw: str, networks: tuple[str, ...]) -> None:
    expected = tuple(ip_network(n) for n in networks)
    assert load_settings({"TRUSTED_PROXIES": raw}).trusted_proxies == expected


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("postgres://u:p@db.host:5432/d1", "postgresql+psycopg://u:p@db.host:5432/d1"),
        ("postgresql://u:p@db.host/d1", "postgresql+psycopg://u:p@db.host/d1"),
        ("postgresql+psycopg://u:p@db.host/d1", "postgresql+psycopg://u:p@db.host/d1"),
        ("sqlite:///signalgate.db", "sqlite:///signalgate.db"),
        ("mysql://u:p@db.host/d1", "mysql://u:p@db.host/d1"),
    ],
)
def test_database_url_picks_psycopg_for_postgresql(raw: str, url: str) -> None:
    assert database_url(raw) == url
    assert load_settings({"DATABASE_URL": f" {raw} "}).database_url == url


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("rediss://:pw@h:6380", "rediss://:pw@h:6380?ssl_cert_reqs=none"),
        (
            "rediss://:pw@h:6380/0?ssl_cert_reqs=required",
            "rediss://:pw@h:6380/0?ssl_cert_reqs=required",
        ),
        (
            "rediss://:pw@h:6380/0?health_check_interval=10",
            "rediss://:pw@h:6380/0?health_check_interval=10&ssl_cert_reqs=none",
        ),
    ],
)
def test_heroku_rediss_skips_certificate_checks_unless_told(raw: str, url: str) -> None:
    assert redis_url(raw) == url
    assert load_settings({"REDIS_URL": raw}).redis_url == url


# (variable, bad value, what the message says to use)
BAD = [
    ("PORT", "eighty", "use a port number from 1 to 65535"),
    ("PORT", "0", "use a port number from 1 to 65535"),
    ("PORT", "70000", "use a port number from 1 to 65535"),
    ("WEB_CONCURRENCY", "0", "use a whole number above 0"),
    ("WEB_CONCURRENCY", "2.5", "use a whole number above 0"),
    ("REDIS_URL", "localhost:6379", "use a URL like redis://host:6379/0"),
    ("DATABASE_URL", "signalgate.db", "use a URL like postgres://"),
    ("DB_POOL_SIZE", "0", "use a whole number above 0"),
    ("DB_MAX_OVERFLOW", "none", "use a whole number, 0 or more"),
    ("DB_MAX_OVERFLOW", "-1", "use a whole number, 0 or more"),
    ("WEBHOOK_SECRET", "   ", "unset it or give it a value"),
    ("API_TOKEN", "", "unset it or give it a value"),
    ("SECRETS_KEY", f"{FERNET_NEW},{PASSWORD}", "each key must be a Fernet key (44 characters"),
    ("CONNECTION_TEST_TIMEOUT_SECONDS", "0", "use seconds from 0.05 to 3600"),
    ("CONFIDENCE_THRESHOLD", "high", "use a number from 0 to 1"),
    ("CONFIDENCE_THRESHOLD", "1.5", "use a number from 0 to 1"),
    ("CONFIDENCE_THRESHOLD", "-0.1", "use a number from 0 to 1"),
    ("CONFIDENCE_THRESHOLD", "nan", "use a number from 0 to 1"),
    ("CONFIDENCE_THRESHOLDS", "momentum", "use name=number pairs separated by commas"),
    ("CONFIDENCE_THRESHOLDS", "=0.5", "use name=number pairs separated by commas"),
    ("CONFIDENCE_THRESHOLDS", "momentum=0.7;x=0.5", "use a number from 0 to 1"),
    ("CONFIDENCE_THRESHOLDS", "momentum=1.5", "use a number from 0 to 1"),
    ("CONFIDENCE_THRESHOLDS", "momentum=", "use a number from 0 to 1"),
    ("SIGNAL_MAX_AGE_SECONDS", "-5", "use a whole number above 0"),
    ("DEDUPE_WINDOW_SECONDS", "1m", "use a whole number above 0"),
    ("DEDUPE_ID_WINDOW_SECONDS", "0", "use a whole number above 0"),
    ("RATE_LIMIT_PER_MINUTE", "lots", "use a whole number above 0"),
    ("TRADINGVIEW_IPS_ONLY", "maybe", "use true or false"),
    ("TRUSTED_PROXIES", "10.0.0.0/33", "use IP addresses or CIDR ranges separated by commas"),
    ("TRUSTED_PROXIES", "10.0.0.1, proxy.local", "use IP addresses or CIDR ranges"),
    ("TRADING_MODE", "real", "use paper, testnet or live"),
    ("QUEUE_NAME", " ", "unset it or give it a value"),
    ("LOG_LEVEL", "verbose", "use DEBUG, INFO, WARNING or ERROR"),
    ("LOG_FORMAT", "text", "use logfmt or json"),
    ("MAX_ORDER_NOTIONAL", "0", "use an amount above 0, like 1000"),
    ("MAX_ORDER_NOTIONAL", "1,000", "use an amount above 0, like 1000"),
    ("MAX_ORDER_NOTIONAL", "inf", "use an amount above 0, like 1000"),
    ("MAX_TOTAL_EXPOSURE", "-5", "use an amount above 0, like 1000"),
    ("MAX_OPEN_POSITIONS", "0", "use a whole number above 0"),
    ("MAX_DAILY_LOSS", "nan", "use an amount above 0, like 1000"),
    ("DAILY_LOSS_COUNTS_UNREALIZED", "sometimes", "use true or false"),
    ("ACCOUNT_CURRENCY", "US DOLLAR", "use a currency code like USDT"),
    ("STOP_LOSS_COOLDOWN_SECONDS", "-1", "use a whole number of seconds, 0 or more"),
    ("STOP_LOSS_COOLDOWN_SECONDS", "15m", "use a whole number of seconds, 0 or more"),
    ("MAX_ORDERS_PER_MINUTE", "many", "use a whole number above 0"),
    ("PRICE_BAND_PERCENT", "0", "use a percent above 0 and at most 100, like 2"),
    ("PRICE_BAND_PERCENT", "150", "use a percent above 0 and at most 100, like 2"),
    (
        "SYMBOLS_ALLOW",
        "BTC/USDT,ETHUSDT",
        "use unified symbols like BTC/USDT or BTC/USDT:USDT separated by commas ('ETHUSDT' is",
    ),
    ("SYMBOLS_DENY", "BINANCE:BTCUSDT", "use unified symbols like BTC/USDT"),
    ("REQUIRE_STOP_LOSS", "always", "use true or false"),
    ("DEFAULT_STOP_LOSS_PERCENT", "0", "use a percent above 0 and below 100, like 2"),
    ("DEFAULT_STOP_LOSS_PERCENT", "100", "use a percent above 0 and below 100, like 2"),
    ("DEFAULT_STOP_LOSS_PERCENT", "two", "use a percent above 0 and below 100, like 2"),
    ("DEFAULT_STOP_LOSS_PERCENT", "nan", "use a percent above 0 and below 100, like 2"),
    ("DEFAULT_QTY_MODE", "contracts", "use base, quote, percent_equity or risk_percent"),
    ("DEFAULT_QUANTITY", "-100", "use a number above 0, like 100"),
    ("ENTRY_POLICY", "pyramid", "use ignore, add or reverse"),
    ("UNPROTECTED_POLICY", "panic", "use close or keep"),
    ("SLIPPAGE_BPS", "0", "use basis points above 0, at most 10000"),
    ("EXECUTION_MAX_DELAY_SECONDS", "0", "use a whole number above 0"),
    ("TRAILING_MIN_INTERVAL_SECONDS", "-1", "use a whole number of seconds, 0 or more"),
    ("TRAILING_MIN_STEP_PERCENT", "100", "use a percent from 0 to below 100, like 0.1"),
    ("TRAILING_MIN_STEP_PERCENT", "-0.1", "use a percent from 0 to below 100, like 0.1"),
    ("SLIPPAGE_BPS", "20000", "use basis points above 0, at most 10000"),
    ("MONITOR_INTERVAL_SECONDS", "0", "use seconds from 0.05 to 3600"),
    ("MONITOR_INTERVAL_SECONDS", "soon", "use seconds, like 0.5"),
    ("STRATEGY_SETTINGS", "momentum=1", "use a JSON object of objects by strategy name"),
    ("STRATEGY_SETTINGS", '{"momentum": 1}', "use a JSON object of objects by strategy name"),
    ("RECONCILE_INTERVAL_SECONDS", "0", "use seconds from 0.05 to 3600"),
    ("DRIFT_POLICY", "panic", "use flag, reduce_only or halt"),
    ("RECONCILE_BASELINES", "BTC=0.5", "use venue.ASSET=amount pairs separated by commas"),
    ("RECONCILE_BASELINES", "binance.BTC=lots", "use venue.ASSET=amount pairs"),
    ("RECONCILE_BASELINES", "binance.BTC=inf", "use venue.ASSET=amount pairs"),
    ("NOTIFY_URLS", "tgram://a/b,api.telegram.org", "URL 1 (counted from 0) is not an apprise URL"),
    ("NOTIFY_RATE_PER_MINUTE", "0", "use a whole number of messages a minute from 1 to 600"),
    ("NOTIFY_SUMMARY_AT", "9pm", "use a UTC time of day as HH:MM, like 21:30"),
    ("NOTIFY_EVENTS", "0:all", "there is no channel 0: NOTIFY_URLS has 0, numbered from 0"),
    ("NOTIFY_EVENTS", "0:most", "there is no channel 0"),
]


@pytest.mark.parametrize(("variable", "raw", "instead"), BAD)
def test_a_bad_value_names_the_variable_and_what_to_use(
    variable: str, raw: str, instead: str
) -> None:
    [line] = refusal({variable: raw})
    assert line.startswith(f"{variable}=")
    assert "is not valid" in line
    assert instead in line


def test_every_bad_value_is_reported_at_once_one_line_each() -> None:
    environ = {variable: raw for variable, raw, _ in BAD}  # one bad value per variable
    lines = refusal(environ)
    assert [line.split("=", 1)[0] for line in lines] == list(environ)
    for line, variable in zip(lines, environ, strict=True):
        assert environ[variable] in line or "(hidden)" in line


def test_a_shown_value_is_quoted_so_that_it_stays_on_its_line() -> None:
    [line] = refusal({"LOG_LEVEL": "loud\nPORT=1"})
    assert line == "LOG_LEVEL='loud\\nPORT=1' is not valid: use DEBUG, INFO, WARNING or ERROR."


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("WEBHOOK_SECRET", " "),
        ("DATABASE_URL", f"user:{PASSWORD}@db.host/d1"),
        ("DATABASE_URL", f"{PASSWORD}"),
        ("REDIS_URL", f"http://:{PASSWORD}@cache:6379"),
        ("REDIS_URL", f"{PASSWORD}@cache:6379"),
        ("SECRETS_KEY", f"{FERNET_NEW[:-2]}{PASSWORD}"),
        ("SECRETS_KEY", " , "),
        ("NOTIFY_URLS", f"tgram://1:{PASSWORD}/2,{PASSWORD}"),
    ],
)
def test_a_bad_secret_is_named_but_hidden(variable: str, raw: str) -> None:
    [line] = refusal({variable: raw})
    assert line.startswith(f"{variable}=(hidden) is not valid: ")
    assert PASSWORD not in line


def test_secrets_stay_out_of_errors_about_other_settings() -> None:
    environ = {
        "WEBHOOK_SECRET": SECRET,
        "API_TOKEN": TOKEN,
        "DATABASE_URL": f"postgres://app:{PASSWORD}@db.host/d1",
        "REDIS_URL": f"rediss://:{PASSWORD}@cache:6380",
        "PORT": "nope",
        "TRADING_MODE": "live",
    }
    message = "\n".join(refusal(environ))
    assert message.startswith("PORT=")
    for secret in (SECRET, TOKEN, PASSWORD):
        assert secret not in message


def test_repr_of_settings_shows_no_secret() -> None:
    settings = load_settings(
        {
            "WEBHOOK_SECRET": SECRET,
            "API_TOKEN": TOKEN,
            "DATABASE_URL": f"postgres://app:{PASSWORD}@db.host/d1",
            "REDIS_URL": f"rediss://:{PASSWORD}-r@cache:6380",
            "QUEUE_NAME": "orders",
            "SECRETS_KEY": FERNET_NEW,
        }
    )
    shown = repr(settings)
    assert "queue_name='orders'" in shown  # the repr does show the plain settings
    for secret in (SECRET, TOKEN, PASSWORD, FERNET_NEW):
        assert secret not in shown
    assert settings.webhook_secret == SECRET
    assert settings.redis_url == f"rediss://:{PASSWORD}-r@cache:6380?ssl_cert_reqs=none"


@pytest.mark.parametrize(
    ("environ", "lines"),
    [
        (
            {"TRADING_MODE": "live"},
            ["TRADING_MODE=live needs WEBHOOK_SECRET: set a long random secret."],
        ),
        (
            {"TRADING_MODE": " LIVE ", "API_TOKEN": TOKEN},
            ["TRADING_MODE=live needs WEBHOOK_SECRET: set a long random secret."],
        ),
        (
            {"TRADING_MODE": "live", "WEBHOOK_SECRET": "  "},
            [
                "WEBHOOK_SECRET=(hidden) is not valid: it is empty; unset it or give it a value.",
                "TRADING_MODE=live needs WEBHOOK_SECRET: set a long random secret.",
            ],
        ),
    ],
)
def test_live_trading_without_a_webhook_secret_is_refused(
    environ: dict[str, str], lines: list[str]
) -> None:
    assert refusal(environ) == lines


@pytest.mark.parametrize("mode", ["paper", "testnet"])
def test_only_live_trading_needs_a_webhook_secret(mode: str) -> None:
    assert load_settings({"TRADING_MODE": mode}).webhook_secret is None


def test_live_trading_with_a_webhook_secret_is_accepted() -> None:
    settings = load_settings({"TRADING_MODE": "live", "WEBHOOK_SECRET": SECRET})
    assert (settings.trading_mode, settings.webhook_secret) == (TradingMode.LIVE, SECRET)


@pytest.mark.parametrize(
    ("environ", "required"),
    [
        ({"TRADING_MODE": "live", "WEBHOOK_SECRET": SECRET}, True),
        ({"TRADING_MODE": "live", "WEBHOOK_SECRET": SECRET, "REQUIRE_STOP_LOSS": "false"}, False),
        ({"TRADING_MODE": "testnet"}, False),
        ({"TRADING_MODE": "paper", "REQUIRE_STOP_LOSS": "true"}, True),
    ],
)
def test_live_trading_requires_a_stop_loss_unless_told(
    environ: dict[str, str], required: bool
) -> None:
    assert load_settings(environ).risk.require_stop_loss is required


def test_an_unparseable_redis_url_still_says_what_to_use() -> None:
    [line] = refusal({"REDIS_URL": f"redis://:{PASSWORD}@[::1:6379"})
    assert PASSWORD not in line
    assert "use a URL like redis://host:6379/0" in line


def test_settings_are_frozen() -> None:
    settings: Any = load_settings({})
    with pytest.raises(AttributeError):
        settings.port = 1


@pytest.mark.parametrize("mode", ["percent_equity", "risk_percent"])
def test_a_default_percent_above_100_is_refused(mode: str) -> None:
    assert refusal({"DEFAULT_QTY_MODE": mode, "DEFAULT_QUANTITY": "250"}) == [
        f"DEFAULT_QUANTITY=250 is a percent with DEFAULT_QTY_MODE={mode}: use a number above 0 "
        "and at most 100."
    ]


@pytest.mark.parametrize(("mode", "quantity"), [("quote", "250"), ("percent_equity", "100")])
def test_a_default_quantity_fitting_its_mode_is_accepted(mode: str, quantity: str) -> None:
    settings = load_settings({"DEFAULT_QTY_MODE": mode, "DEFAULT_QUANTITY": quantity})
    assert (settings.sizing.default_mode, settings.sizing.default_quantity) == (
        mode,
        Decimal(quantity),
    )


def test_the_default_risk_settings_give_the_default_limits_and_policy() -> None:
    settings = load_settings({})
    assert settings.risk == RiskLimits()
    assert settings.sizing == SizingPolicy()


def test_risk_limits_and_sizing_policy_come_from_the_settings() -> None:
    settings = load_settings(
        {
            "MAX_ORDER_NOTIONAL": "250",
            "MAX_TOTAL_EXPOSURE": "900",
            "MAX_OPEN_POSITIONS": "2",
            "MAX_DAILY_LOSS": "40",
            "STOP_LOSS_COOLDOWN_SECONDS": "60",
            "MAX_ORDERS_PER_MINUTE": "4",
            "PRICE_BAND_PERCENT": "1.5",
            "SYMBOLS_ALLOW": "BTC/USDT,ETH/USDT",
            "SYMBOLS_DENY": "ETH/USDT",
            "DEFAULT_QTY_MODE": "risk_percent",
            "DEFAULT_QUANTITY": "0.5",
        }
    )
    assert settings.risk == RiskLimits(
        allow_symbols=frozenset({"BTC/USDT", "ETH/USDT"}),
        deny_symbols=frozenset({"ETH/USDT"}),
        max_order_notional=Decimal(250),
        max_total_exposure=Decimal(900),
        max_open_positions=2,
        max_daily_loss=Decimal(40),
        stop_loss_cooldown_seconds=60,
        max_orders_per_minute=4,
        price_band_percent=Decimal("1.5"),
    )
    assert settings.sizing == SizingPolicy(
        default_mode=QtyMode.RISK_PERCENT,
        default_quantity=Decimal("0.5"),
        max_order_notional=Decimal(250),  # computed sizes share the gate's order cap
    )


def test_a_heroku_dyno_without_a_database_url_is_refused_in_one_sentence() -> None:
    # the SQLite default would be a file of that dyno's own, lost at its next restart
    [line] = refusal({"DYNO": "web.1"})
    assert line.startswith("DATABASE_URL is not set on this Heroku dyno")
    assert "heroku-postgresql" in line
    assert (line.count(". "), line[-1]) == (0, ".")  # one sentence


@pytest.mark.parametrize(
    "environ",
    [
        {"DYNO": "worker.2", "DATABASE_URL": "postgres://u:p@db.example:5432/d1"},
        {"DYNO": "run.1234", "DATABASE_URL": "sqlite:////tmp/chosen.db"},  # said on purpose
        {},  # not a dyno: the SQLite default of a local run
        {"DYNO": ""},
    ],
)
def test_a_database_url_or_no_dyno_starts(environ: dict[str, str]) -> None:
    load_settings(environ)


def test_a_dyno_refusal_joins_the_other_bad_values() -> None:
    lines = refusal({"DYNO": "web.1", "PORT": "0"})
    assert [line.split("=", 1)[0].split(" ", 1)[0] for line in lines] == ["PORT", "DATABASE_URL"]
