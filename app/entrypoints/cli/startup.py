"""The start of every command that reads settings: settings read once (or exit 2 saying what is
wrong), then logging configured from them."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

from app.bootstrap.logs import configure_logging
from app.config.settings import ConfigError, Settings, load_settings


def start(
    process: str | None = None,
    *,
    needs_redis: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """This command's settings, with logging configured; exits 2 when they are invalid.

    Args:
        process: the long-running process this command starts (serve, worker, ...): it says so
            at INFO, with the settings that shape it (never a secret).
        needs_redis: exit 2 when REDIS_URL is not set.
        environ: the variables to read (default: the process's environment).
    """
    try:
        settings = load_settings(environ)
    except ConfigError as exc:
        print(f"signalgate: invalid settings:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if needs_redis and settings.redis_url is None:
        print("signalgate: set REDIS_URL (`signalgate run` sets it for you).", file=sys.stderr)
        raise SystemExit(2)
    configure_logging(settings)
    if process is not None:
        venues = ", ".join(f"{v.name} ({v.mode})" for v in settings.venues)
        logging.getLogger(f"signalgate.{process}").info(
            "%s starting: trading mode %s; venues %s; log level %s, format %s",
            process, settings.trading_mode, venues, settings.log_level, settings.log_format,
        )  # fmt: skip
    return settings
