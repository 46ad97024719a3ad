"""Logging for every process: one handler, one line per record, secrets hidden.

`configure_logging(settings)` sets the root logger to `LOG_LEVEL` with one handler on stderr, so
every library's records (ccxt, uvicorn, RQ, Litestar, alembic) come out the same way:

- `LOG_FORMAT=logfmt` (the default, what Heroku's own lines look like):
  `time=2026-12-06T01:02:03.456Z level=info logger=signalgate.web msg="..." exc="..."`;
  a value is quoted when it holds a space, a quote, `=`, a backslash or a control character, and
  a traceback's newlines are escaped, so that a record stays one line.
- `LOG_FORMAT=json`: one JSON object per line with the same keys, for log drains that want JSON.

stderr, not stdout: commands print their results on stdout (a backtest's report, `export-signals`,
the sample of `signalgate run`), and logs never mix into what a user pipes; Heroku reads both, and
Python keeps stderr line-buffered even into a pipe.

The handler's filter replaces the values of WEBHOOK_SECRET, API_TOKEN, SECRETS_KEY, every venue's
API key, secret and password, the passwords of REDIS_URL and DATABASE_URL, and the tokens,
passwords and paths of NOTIFY_URLS with `***` in the message, its arguments and the exception
text, whatever logger wrote the record. A value shorter than `MIN_SECRET_LENGTH` is not hidden (it
would turn every such run of letters into `***`); start-up warns about it. Keys a process learns
while it runs (a stored connection's, once opened) are hidden from then on (`hide_in_logs`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

from app.config.settings import LogFormat, Settings

MIN_SECRET_LENGTH = 4
MASK = "***"

log = logging.getLogger("signalgate.logs")

# One line per HTTP request at INFO: request-level detail, shown at DEBUG only.
_PER_REQUEST_LOGGERS = ("httpx",)
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})
_NEEDS_QUOTES = re.compile(r'[\s"=\\\x00-\x1f\x7f]')
_plain = logging.Formatter()


def secrets_of(settings: Settings) -> dict[str, str]:
    """Every secret value the settings hold, by the variable that set it."""
    found = {"WEBHOOK_SECRET": settings.webhook_secret, "API_TOKEN": settings.api_token}
    for number, key in enumerate(settings.secrets_keys, 1):
        found[f"key {number} of SECRETS_KEY"] = key
    for venue in settings.venues:
        prefix = venue.name.upper()
        found[f"{prefix}_API_KEY"] = venue.api_key
        found[f"{prefix}_API_SECRET"] = venue.api_secret
        found[f"{prefix}_API_PASSWORD"] = venue.api_password
    for name, url in (("REDIS_URL", settings.redis_url), ("DATABASE_URL", settings.database_url)):
        found[f"the password of {name}"] = _password(url)
    for index, url in enumerate(settings.notify.urls):
        for part, value in enumerate(_url_secrets(url)):
            found[f"part {part} of NOTIFY_URLS' URL {index}"] = value
    return {name: value for name, value in found.items() if value}


def _url_secrets(url: str) -> list[str]:
    """What of a notification URL may be secret, without apprise (which the web process does not
    load): the URL, its host part (a Telegram bot token, a Discord webhook id), its password, its
    path (tokens, webhook paths) and its parameters' values (headers). The notifier process adds
    what apprise marks private (`app.adapters.notify.channels.channel_secrets`)."""
    rest = url.partition("://")[2]
    netloc, _, path = rest.partition("/")
    path, _, query = path.partition("?")
    userinfo = netloc.rpartition("@")[0]
    found = [url, netloc, userinfo.partition(":")[2], path.strip("/")]
    found += [value for _, value in parse_qsl(query, keep_blank_values=False)]
    return [value for value in found if len(value) >= MIN_SECRET_LENGTH]


def _password(url: str | None) -> str | None:
    try:
        return urlsplit(url).password if url else None
    except ValueError:
        return None


def _spellings(secret: str) -> set[str]:
    """The secret as it appears in a URL, a JSON body or a Python repr (a logged dict)."""
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
            repr(secret)[1:-1]}  # fmt: skip


class SecretFilter(logging.Filter):
    """Replaces secret values with `***` in a record's message, arguments and exception text.

    On a handler, it sees every record the handler writes, whatever logger wrote it. The message
    is formatted with its arguments first, so that a secret passed as an argument is hidden too.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._spellings: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Hide these values too."""
        more = {s for secret in secrets if len(secret) >= MIN_SECRET_LENGTH
                for s in _spellings(secret)}  # fmt: skip
        if more <= self._spellings:
            return
        self._spellings |= more
        longest_first = sorted(self._spellings, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, longest_first)))

    def redact(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = _plain.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def _fields(record: logging.LogRecord) -> dict[str, str]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    fields = {
        "time": f"{stamp}.{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    if record.exc_info and not record.exc_text:
        record.exc_text = _plain.formatException(record.exc_info)
    if record.exc_text:
        fields["exc"] = record.exc_text
    if record.stack_info:
        fields["stack"] = record.stack_info
    return fields


def _logfmt_value(value: str) -> str:
    if value and not _NEEDS_QUOTES.search(value):
        return value
    return json.dumps(value, ensure_ascii=False).translate(_LINE_BREAKS)


class LogfmtFormatter(logging.Formatter):
    """`time=... level=info logger=... msg="..."`: one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_logfmt_value(v)}" for key, v in _fields(record).items())


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, msg (and exc)."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False)


_FORMATTERS = {LogFormat.LOGFMT: LogfmtFormatter, LogFormat.JSON: JsonFormatter}


class ProcessLogHandler(logging.Handler):
    """Writes each record as one line to the current `sys.stderr` (looked up at each write, like
    Python's last-resort handler, so that a replaced stderr is followed)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stderr
            stream.write(line + "\n")
            stream.flush()
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - logging must not crash the process; Python reports it
            self.handleError(record)


# values learnt while running (the keys of stored connections, once opened), hidden like the
# settings' secrets
_LEARNT: set[str] = set()


def hide_in_logs(secrets: Iterable[str]) -> None:
    """Hide these values in every line this process logs from now on, as the settings' secrets
    are (a stored connection's keys, as they are opened)."""
    _LEARNT.update(secret for secret in secrets if secret)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, ProcessLogHandler):
            for found in handler.filters:
                if isinstance(found, SecretFilter):
                    found.add(_LEARNT)


def configure_logging(settings: Settings, more_secrets: Iterable[str] = ()) -> None:
    """Route every logger through one stderr handler at `LOG_LEVEL`, in `LOG_FORMAT`, with the
    settings' secrets (and `more_secrets`) hidden. Calling it again replaces that handler (never
    adds a second)."""
    root = logging.getLogger()
    previous = [h for h in root.handlers if isinstance(h, ProcessLogHandler)]
    for handler in previous:
        root.removeHandler(handler)
    secrets = secrets_of(settings)
    handler = ProcessLogHandler()
    handler.setFormatter(_FORMATTERS[settings.log_format]())
    handler.addFilter(SecretFilter([*secrets.values(), *more_secrets, *_LEARNT]))
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    logging.captureWarnings(True)  # Python's warnings too, as one line each (logger py.warnings)
    detail = settings.log_level == "DEBUG"
    for name in _PER_REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if detail else logging.WARNING)
    if not previous:
        for name, value in secrets.items():
            if len(value) < MIN_SECRET_LENGTH:
                log.warning("%s is shorter than %d characters, so logs do not hide it; "
                            "use a long random value", name, MIN_SECRET_LENGTH)  # fmt: skip
