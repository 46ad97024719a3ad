"""Parsers of the risk, sizing and execution settings (`app.config.settings` reads with them);
`app.config.settings` builds the domain's policy objects from what they read."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from app.config.numbers import decimal, real, whole
from app.domain.execution_policy import EntryPolicy
from app.domain.position_sync import PositionSync
from app.domain.signals import QtyMode

E = TypeVar("E", bound=enum.StrEnum)

_SYMBOL = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20})?$")
_MAX_MONEY = Decimal("1e12")
_ZERO = Decimal(0)
_PERCENT_MODES = frozenset({QtyMode.PERCENT_EQUITY, QtyMode.RISK_PERCENT})


def money(raw: str) -> Decimal:
    """An amount of the quote currency above 0, like `1000` or `250.5`."""
    return decimal(raw, "use an amount above 0, like 1000", _ZERO, _MAX_MONEY, above=True)


def band_percent(raw: str) -> Decimal:
    return decimal(
        raw, "use a percent above 0 and at most 100, like 2", _ZERO, Decimal(100), above=True
    )


def quantity(raw: str) -> Decimal:
    return decimal(raw, "use a number above 0, like 100", _ZERO, _MAX_MONEY, above=True)


def seconds(raw: str) -> int:
    """Whole seconds, 0 allowed (0 turns the wait off)."""
    return whole(raw, "use a whole number of seconds, 0 or more")


def symbols(raw: str) -> frozenset[str]:
    """Unified symbols separated by commas: `BTC/USDT,ETH/USDT:USDT`."""
    names = frozenset(p.strip().upper() for p in raw.split(",") if p.strip())
    for name in names:
        if not _SYMBOL.match(name):
            raise ValueError(
                "use unified symbols like BTC/USDT or BTC/USDT:USDT separated by commas "
                f"({name[:40]!r} is not one)"
            )
    return names


def one_of(kind: type[E]) -> Callable[[str], E]:
    """A parser of one of `kind`'s values, in any case; its error lists them."""
    values = [member.value for member in kind]
    hint = f"use {', '.join(values[:-1])} or {values[-1]}"

    def parse(raw: str) -> E:
        try:
            return kind(raw.strip().lower())
        except ValueError:
            raise ValueError(hint) from None

    return parse


qty_mode = one_of(QtyMode)
entry_policy = one_of(EntryPolicy)
position_sync = one_of(PositionSync)


def default_size_error(mode: QtyMode, default_quantity: Decimal) -> str | None:
    """The sentence refusing a default quantity its mode cannot take, or None."""
    if mode in _PERCENT_MODES and default_quantity > 100:
        return (
            f"DEFAULT_QUANTITY={default_quantity} is a percent with DEFAULT_QTY_MODE={mode.value}:"
            " use a number above 0 and at most 100."
        )
    return None


def unprotected_policy(raw: str) -> bool:
    """`close` flattens a bracket whose leg cannot be placed; `keep` leaves it as it is."""
    value = raw.strip().lower()
    if value not in {"close", "keep"}:
        raise ValueError("use close or keep")
    return value == "close"


def basis_points(raw: str) -> Decimal:
    return decimal(
        raw, "use basis points above 0, at most 10000", _ZERO, Decimal(10_000), above=True
    )


def interval(raw: str) -> float:
    return real(raw, "use seconds from 0.05 to 3600", 0.05, 3600, unread="use seconds, like 0.5")


_CURRENCY = re.compile(r"^[A-Z0-9]{1,16}$")


def currency(raw: str) -> str:
    """A currency code like USDT or USDC, in any case."""
    value = raw.strip().upper()
    if not _CURRENCY.match(value):
        raise ValueError("use a currency code like USDT")
    return value


def step_percent(raw: str) -> Decimal:
    """A percent from 0 (the price step alone) to below 100."""
    hint = "use a percent from 0 to below 100, like 0.1"
    return decimal(raw, hint, _ZERO, Decimal(100), below=True)
