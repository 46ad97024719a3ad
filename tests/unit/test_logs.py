"""app/bootstrap/logs.py: one line per record (logfmt or JSON), LOG_LEVEL, secrets hidden."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import uvicorn
from rq.logutils import setup_loghandlers

from app.bootstrap.logs import (
    MIN_SECRET_LENGTH,
    JsonFormatter,
    LogfmtFormatter,
    ProcessLogHandler,
    SecretFilter,
    configure_logging,
    hide_in_logs,
    secrets_of,
)
from app.config.settings import Settings, load_settings

AT = datetime(2026, 12, 6, 1, 2, 3, 456_000, tzinfo=UTC).timestamp()
SECRET = "tv-secret-9d8f7"
TOKEN = "api/token+6c5b4"  # spelled differently in a URL
KEY, VENUE_SECRET, PASSWORD = "okx-key-a1b2", "okx-secret-c3d4", "okx-pass-e5f6"
REDIS_PASSWORD = "redis-pw-0q9w"
FERNET = "Zm9v" * 10 + "YmE="  # a Fernet key's form: 32 bytes of URL-safe base64
SECRETS = (SECRET, TOKEN, KEY, VENUE_SECRET, PASSWORD, REDIS_PASSWORD, FERNET)
ENVIRON = {
    "WEBHOOK_SECRET": SECRET,
    "SECRETS_KEY": FERNET,
    "API_TOKEN": TOKEN,
    "REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
    "TRADING_MODE": "testnet",
    "VENUES": "paper,okx",
    "OKX_MODE": "testnet",
    "OKX_API_KEY": KEY,
    "OKX_API_SECRET": VENUE_SECRET,
    "OKX_API_PASSWORD": PASSWORD,
}

_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)(?: |$)')


def parse_logfmt(line: str) -> dict[str, str]:
    """A logfmt line's keys and values, in order; AssertionError when it is not logfmt."""
    fields, at = {}, 0
    while at < len(line):
        pair = _PAIR.match(line, at)
        assert pair is not None, f"not logfmt from column {at}: {line!r}"
        key, value = pair.groups()
        fields[key] = json.loads(value) if value.startswith('"') else value
        at = pair.end()
    return fields


def record(msg: object, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord("signalgate.web", logging.INFO, __file__, 1, msg, args, exc_info)
    made.created, made.msecs = AT, 456.0
    return made


@pytest.fixture
def uvicorn_unconfigured() -> Iterator[None]:
    """uvicorn's loggers as a fresh process has them (a test may have run uvicorn here)."""
    loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(logger.handlers[:], logger.propagate, logger.level) for logger in loggers]
    for logger in loggers:
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    yield
    for logger, (handlers, propagate, level) in zip(loggers, saved, strict=True):
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.setLevel(level)


def printed(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_a_record_is_one_logfmt_line_with_time_level_and_logger() -> None:
    line = LogfmtFormatter().format(record("alert %s queued: %d", "a1", 202))
    assert line == (
        'time=2026-12-06T01:02:03.456Z level=info logger=signalgate.web msg="alert a1 queued: 202"'
    )


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("ready", "msg=ready"),
        ("", 'msg=""'),
        ("a=b", 'msg="a=b"'),
        ('say "hi"', r'msg="say \"hi\""'),
        ("C:\\path", r'msg="C:\\path"'),
        ("two\nlines\r\n", r'msg="two\nlines\r\n"'),
        ("\x1b[31mred", r'msg="\u001b[31mred"'),
        ("a\u2028b", r'msg="a\u2028b"'),
        ("prix 65 000 €", 'msg="prix 65 000 €"'),
    ],
)
def test_a_value_is_quoted_and_escaped_when_it_must_be(message: str, shown: str) -> None:
    line = LogfmtFormatter().format(record(message))
    assert line.endswith(" " + shown)
    assert len(line.splitlines()) == 1
    assert parse_logfmt(line)["msg"] == message


def test_an_exception_stays_on_the_records_line() -> None:
    line = LogfmtFormatter().format(record("job failed", exc=True))
    [only] = line.splitlines()
    fields = parse_logfmt(only)
    assert list(fields) == ["time", "level", "logger", "msg", "exc"]
    assert fields["exc"].startswith("Traceback (most recent call last):\n")
    assert fields["exc"].endswith("ValueError: boom\nsecond line")


def test_json_is_one_object_per_line_with_the_same_keys() -> None:
    line = JsonFormatter().format(record("alert %s", "a1\nb", exc=True))
    [only] = line.splitlines()
    fields = json.loads(only)
    assert list(fields) == ["time", "level", "logger", "msg", "exc"]
    assert fields["time"] == "2026-12-06T01:02:03.456Z"
    assert (fields["level"], fields["logger"], fields["msg"]) == (
        "info",
        "signalgate.web",
        "alert a1\nb",
    )
    assert "ValueError: boom" in fields["exc"]


def test_secrets_are_every_key_secret_password_and_url_password() -> None:
    found = secrets_of(load_settings(ENVIRON))
    assert found == {
        "WEBHOOK_SECRET": SECRET,
        "API_TOKEN": TOKEN,
        "key 1 of SECRETS_KEY": FERNET,
        "OKX_API_KEY": KEY,
        "OKX_API_SECRET": VENUE_SECRET,
        "OKX_API_PASSWORD": PASSWORD,
        "the password of REDIS_URL": REDIS_PASSWORD,
    }
    assert secrets_of(Settings()) == {}


@pytest.mark.parametrize(
    ("logger", "message", "args"),
    [
        ("signalgate.web", f"alert with secret {SECRET}", ()),
        ("signalgate.web", "token %s, key %s", (TOKEN, KEY)),
        ("ccxt.base.exchange", "%s %s, Request: %s %s",
         ("POST", "https://okx", {"OK-ACCESS-KEY": KEY, "OK-ACCESS-PASSPHRASE": PASSWORD}, None)),
        ("uvicorn.error", f"GET /rq/?token={quote(TOKEN, safe='')}&x=1", ()),
        ("rq.worker", "connected to %s", (f"redis://:{REDIS_PASSWORD}@host",)),
        ("signalgate.connections", "sealing under %s", (FERNET,)),
    ],
)  # fmt: skip
@pytest.mark.usefixtures("uvicorn_unconfigured")
def test_any_loggers_record_prints_stars_instead_of_a_secret(
    capsys: pytest.CaptureFixture[str], logger: str, message: str, args: tuple[object, ...]
) -> None:
    configure_logging(load_settings(ENVIRON))
    logging.getLogger(logger).warning(message, *args)
    [line] = printed(capsys)
    assert "***" in parse_logfmt(line)["msg"]
    assert not any(secret in line for secret in SECRETS)


def test_a_record_whose_arguments_do_not_fit_its_format_keeps_secrets_hidden() -> None:
    bad = record("%d orders for %s", "no number", VENUE_SECRET)
    assert SecretFilter(SECRETS).filter(bad)
    assert bad.getMessage() == "%d orders for %s ('no number', '***')"


def test_a_secret_in_an_exception_is_hidden(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(load_settings({**ENVIRON, "LOG_FORMAT": "json"}))
    try:
        raise RuntimeError(f"venue refused key {KEY}")
    except RuntimeError:
        logging.getLogger("app.adapters.ccxt.exchange").exception("order failed")
    [line] = printed(capsys)
    assert "RuntimeError: venue refused key ***" in json.loads(line)["exc"]
    assert KEY not in line


def test_keys_learnt_while_running_are_hidden_then_and_after_logging_is_configured_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    learnt = "stored-connection-secret-1"
    configure_logging(load_settings(ENVIRON))
    hide_in_logs([learnt, ""])
    logging.getLogger("ccxt.base.exchange").debug("ignored below INFO %s", learnt)
    logging.getLogger("ccxt.base.exchange").warning("signed with %s and %s", learnt, KEY)
    configure_logging(load_settings({**ENVIRON, "LOG_LEVEL": "WARNING"}))
    logging.getLogger("signalgate.connections").warning("again %s", learnt)
    first, second = printed(capsys)
    assert parse_logfmt(first)["msg"] == "signed with *** and ***"
    assert parse_logfmt(second)["msg"] == "again ***"


def test_a_secret_too_short_to_hide_is_left_and_said(capsys: pytest.CaptureFixture[str]) -> None:
    short = "x" * (MIN_SECRET_LENGTH - 1)
    configure_logging(load_settings({"WEBHOOK_SECRET": short}))
    logging.getLogger("signalgate.web").warning("xx xxx xxxx")
    warned, line = printed(capsys)
    assert parse_logfmt(warned)["msg"].startswith("WEBHOOK_SECRET is shorter than 4 characters")
    assert parse_logfmt(line)["msg"] == "xx xxx xxxx"
    assert SecretFilter([short, ""]).redact("xxx") == "xxx"
    assert SecretFilter([short + "x"]).redact("xxxx xxxxx") == "*** ***x"


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("DEBUG", ["debug", "info", "warning", "error"]),
        ("INFO", ["info", "warning", "error"]),
        ("WARNING", ["warning", "error"]),
        ("ERROR", ["error"]),
    ],
)
def test_log_level_is_the_root_level(
    capsys: pytest.CaptureFixture[str], level: str, shown: list[str]
) -> None:
    configure_logging(load_settings({"LOG_LEVEL": level}))
    for name in ("signalgate.worker", "litestar", "ccxt.base.exchange"):
        log = logging.getLogger(name)
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
    levels = [parse_logfmt(line)["level"] for line in printed(capsys)]
    assert levels == shown * 3
    assert logging.getLogger().level == logging.getLevelName(level)


@pytest.mark.parametrize(("level", "lines"), [("INFO", 0), ("DEBUG", 1)])
def test_httpxs_line_per_request_shows_at_debug_only(
    capsys: pytest.CaptureFixture[str], level: str, lines: int
) -> None:
    configure_logging(load_settings({"LOG_LEVEL": level}))
    logging.getLogger("httpx").info('HTTP Request: GET http://127.0.0.1/health "200 OK"')
    assert len(printed(capsys)) == lines


def test_configuring_again_replaces_the_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(load_settings({}))
    configure_logging(load_settings({"LOG_FORMAT": "json"}))
    ours = [h for h in logging.getLogger().handlers if isinstance(h, ProcessLogHandler)]
    assert len(ours) == 1
    logging.getLogger("signalgate").warning("once")
    [line] = printed(capsys)
    assert json.loads(line)["msg"] == "once"


def test_rq_adds_no_handler_of_its_own_once_configured(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(load_settings({}))
    setup_loghandlers("INFO", name="rq.worker")  # what worker.work(logging_level=...) calls
    rq = logging.getLogger("rq.worker")
    assert (rq.handlers, rq.propagate) == ([], True)
    rq.info("*** Listening on signals...")
    [line] = printed(capsys)
    assert parse_logfmt(line)["logger"] == "rq.worker"


@pytest.mark.usefixtures("uvicorn_unconfigured")
def test_uvicorn_without_its_log_config_logs_through_ours(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(load_settings({}))
    uvicorn.Config("app.entrypoints.web.app:create_served_app", log_config=None, log_level="info")
    server = logging.getLogger("uvicorn.error")
    assert (server.handlers, server.propagate) == ([], True)
    server.info("Started server process [1]")
    [line] = printed(capsys)
    assert parse_logfmt(line)["logger"] == "uvicorn.error"
