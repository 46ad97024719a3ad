"""Parsers of the reconciliation settings (`RECONCILE_*`, `DRIFT_POLICY`)."""

from __future__ import annotations

import re
from decimal import Decimal

from app.config.numbers import decimal

_VENUE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def baselines(raw: str) -> dict[tuple[str, str], Decimal]:
    """`binance.BTC=0.5,binanceusdm.BTC/USDT:USDT=0`: what the user holds outside signalgate,
    per venue and asset (a swap symbol for a position, in contracts, signed)."""
    hint = (
        "use venue.ASSET=amount pairs separated by commas, like binance.BTC=0.5 (a swap symbol"
        " for a position: binanceusdm.BTC/USDT:USDT=-0.1)"
    )
    found: dict[tuple[str, str], Decimal] = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        name, equals, amount = item.rpartition("=")
        venue, dot, key = name.partition(".")
        if not equals or not dot or not _VENUE.match(venue.strip().lower()) or not key.strip():
            raise ValueError(hint)
        found[venue.strip().lower(), key.strip()] = decimal(amount, hint)
    return found
