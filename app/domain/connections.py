"""Connections: a venue account (name, venue, mode, keys) signalgate can test and later trade
through. The rules of a new one, what of its keys may be shown, and their removal from any text.

A connection's keys are never shown: an answer says which key fields are set and at most the
last four characters of the API key (the public half of the pair), never any of the secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

import msgspec

PAPER = "paper"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,30}$"  # as VENUES names them
# printable ASCII without spaces: what venues issue as keys, secrets and passphrases
KEY_PATTERN = r"^[!-~]{8,512}$"
URL_PATTERN = r"^https?://[!-~]{1,290}$"
KEY_FIELDS = ("api_key", "api_secret", "api_password")
MAX_LOG_LINES = 40
GENERATE_KEY = (
    '`signalgate connections genkey` (or python -c "from cryptography.fernet import Fernet;'
    ' print(Fernet.generate_key().decode())")'
)
_NAME = re.compile(NAME_PATTERN)
_KEY = re.compile(KEY_PATTERN)
_URL = re.compile(URL_PATTERN)

Source = Literal["stored", "environment"]
Outcome = Literal["ok", "failed"]


@dataclass(frozen=True, slots=True)
class VenueKeys:
    """A connection's credentials, in clear: held in memory only, never shown (`repr` hides
    them), stored encrypted."""

    api_key: str | None = field(default=None, repr=False)
    api_secret: str | None = field(default=None, repr=False)
    api_password: str | None = field(default=None, repr=False)

    @property
    def fields_set(self) -> tuple[str, ...]:
        return tuple(name for name in KEY_FIELDS if getattr(self, name))

    @property
    def api_key_hint(self) -> str | None:
        return key_hint(self.api_key)

    @property
    def values(self) -> tuple[str, ...]:
        """The keys set, for a log filter to hide."""
        return tuple(getattr(self, name) for name in self.fields_set)

    def redact(self, text: str) -> str:
        """`text` with every key replaced: a venue's answer may repeat what it was sent."""
        for name in KEY_FIELDS:
            value = getattr(self, name)
            if value:
                text = text.replace(value, f"<{name}>")
        return text


def key_hint(api_key: str | None) -> str | None:
    """The API key's last characters: four at most, and a quarter of a short key at most."""
    if not api_key:
        return None
    shown = min(4, len(api_key) // 4)
    return "…" + api_key[-shown:] if shown else "…"


def plain(amount: Decimal) -> Decimal:
    """`amount` without trailing zeros or an exponent: 10000 for 10000.000, or 1E+4."""
    return Decimal(f"{amount.normalize():f}")


class ConnectionTest(msgspec.Struct, frozen=True, kw_only=True):
    """The last test of a connection: the venue check's outcome, in one sentence, with the
    balance it read and its log (each step, ms from the start)."""

    status: Outcome
    reason: str
    tested_at: datetime
    balance: dict[str, Decimal] = {}  # asset -> total, the assets held
    log: list[str] = []


class Connection(msgspec.Struct, frozen=True, kw_only=True):
    """A connection as shown: everything but its keys, of which only the fields set and a hint.
    `id` is None for a venue configured by environment (`VENUES`), which is read-only."""

    id: int | None
    name: str
    venue: str
    mode: str
    source: Source
    enabled: bool
    key_fields: list[str]
    api_key_hint: str | None
    api_url: str | None = None
    last_test: ConnectionTest | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewConnection:
    name: str
    venue: str
    mode: str
    keys: VenueKeys
    api_url: str | None = None
    enabled: bool = True


class InvalidConnection(ValueError):
    """A connection's field breaks a rule; the message says what to change."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


class ConnectionConflict(Exception):
    """The request cannot apply to the connection as it is (its name is taken, it is configured
    by environment...); the message says why and what to do."""


class UnknownConnection(LookupError):
    """No connection has this id or name."""


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidConnection(
            "name", "name must be letters, digits and _, starting with a letter, at most 31"
            " characters, in lower case, like binance_main",
        )  # fmt: skip
    return name


def check_keys(keys: VenueKeys) -> VenueKeys:
    for name in keys.fields_set:
        if not _KEY.match(getattr(keys, name)):
            raise InvalidConnection(
                name, f"{name} must be 8 to 512 printable characters without spaces"
            )
    return keys


def check_url(api_url: str | None) -> str | None:
    if api_url is not None and not _URL.match(api_url):
        raise InvalidConnection("api_url", "api_url must be an http:// or https:// URL")
    return api_url


def checked(new: NewConnection, venue_modes: Mapping[str, tuple[str, ...]]) -> NewConnection:
    """`new` once it keeps every rule: a venue signalgate connects to, a mode that venue has, the
    keys a live or testnet venue needs and none for paper.

    Args:
        new: the connection asked for.
        venue_modes: each venue signalgate offers, with the modes it can trade in.

    Raises:
        InvalidConnection: the first rule broken, its field named.
    """
    check_name(new.name)
    modes = venue_modes.get(new.venue)
    if modes is None:
        raise InvalidConnection(
            "venue", f"venue {new.venue[:40]!r} is not one signalgate connects to: use one of "
            + ", ".join(sorted(venue_modes)),
        )  # fmt: skip
    if new.mode not in modes:
        raise InvalidConnection(
            "mode", f"a {new.venue} connection trades in {' or '.join(modes)} mode only,"
            f" not {new.mode[:20]!r}",
        )  # fmt: skip
    check_keys(new.keys)
    check_url(new.api_url)
    if new.venue == PAPER:
        if new.keys.fields_set or new.api_url:
            raise InvalidConnection(
                (new.keys.fields_set or ("api_url",))[0],
                "a paper connection is simulated: it takes no keys and no api_url",
            )
    elif not (new.keys.api_key and new.keys.api_secret):
        missing = "api_key" if not new.keys.api_key else "api_secret"
        raise InvalidConnection(
            missing, f"a {new.mode} connection needs api_key and api_secret: {missing} is missing"
        )
    return new


def outcome_of(
    problems: list[str], warnings: list[str], *, unreachable: bool, keys: VenueKeys
) -> tuple[Outcome, str]:
    """A test's outcome and its sentence, keys removed: failed when the venue refused something
    or did not answer, ok (with its warnings) otherwise."""
    if problems:
        reason = problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        return "failed", keys.redact(reason) + "."
    if unreachable:
        said = "; ".join(warnings)
        return "failed", keys.redact(f"the venue did not answer the check ({said})") + (
            ": check api_url and this machine's network."
        )
    if warnings:
        return "ok", keys.redact("the keys work; warning: " + "; ".join(warnings)) + "."
    return "ok", "the keys work: markets, balance and permissions read."
