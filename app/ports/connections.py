"""Where connections are kept, and the cipher their keys are sealed with.

The store keeps a connection's keys as one sealed token it never opens; the service seals and
opens them with the `Cipher` (Fernet under SECRETS_KEY), so no key reaches the database in clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import msgspec

from app.domain.connections import Connection, ConnectionTest


class SealedKeys(msgspec.Struct, frozen=True):
    """A connection's keys as stored: the sealed token (None: no keys), which fields it holds
    and the API key's hint."""

    token: str | None
    key_fields: tuple[str, ...] = ()
    api_key_hint: str | None = None


class ConnectionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What the store writes for a new connection."""

    name: str
    venue: str
    mode: str
    enabled: bool
    api_url: str | None
    keys: SealedKeys


class ConnectionChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What a change sets; None leaves a field as it is. New keys forget the last test (it was
    of the others)."""

    name: str | None = None
    enabled: bool | None = None
    api_url: str | None = None
    clear_api_url: bool = False
    keys: SealedKeys | None = None


class NameTaken(Exception):
    """Another stored connection has this name."""


class ConnectionStore(Protocol):
    def all(self) -> list[Connection]:
        """Every stored connection, by id."""
        ...

    def get(self, ref: int | str) -> Connection | None:
        """The stored connection with this id (an int) or name (a str)."""
        ...

    def add(self, row: ConnectionRecord, at: datetime) -> Connection:
        """Raises NameTaken."""
        ...

    def change(self, connection_id: int, changes: ConnectionChanges, at: datetime) -> Connection:
        """Raises NameTaken, or LookupError when the connection is gone."""
        ...

    def remove(self, connection_id: int) -> bool:
        """False when it was not there."""
        ...

    def save_test(self, connection_id: int, test: ConnectionTest) -> Connection | None:
        """None when the connection is gone."""
        ...

    def sealed_keys(self, connection_id: int) -> str | None: ...

    def every_sealed(self) -> Sequence[tuple[int, str, str]]:
        """(id, name, token) of each connection with keys."""
        ...

    def reseal(self, connection_id: int, old: str, new: str) -> bool:
        """Replace the token `old` by `new`; False when the keys changed meanwhile."""
        ...


class SealedRows(Protocol):
    """Other secrets sealed under SECRETS_KEY (accounts' notification URLs): `rekey` seals them
    again with the connections' keys."""

    def every_sealed(self) -> Sequence[tuple[str, str, str]]:
        """(ref, what it is in a sentence, token) of each."""
        ...

    def reseal(self, ref: str, old: str, new: str) -> bool:
        """Replace the token `old` by `new`; False when it changed meanwhile."""
        ...


class Cipher(Protocol):
    def seal(self, plain: bytes) -> str: ...

    def open(self, token: str) -> bytes:
        """Raises SecretsUnreadable when no key of the cipher opens it."""
        ...

    def reseal(self, token: str) -> str:
        """The token sealed again under the first key. Raises SecretsUnreadable."""
        ...
