"""Connections: add, list, change, remove and test venue accounts, their keys sealed under
SECRETS_KEY, and `rekey` them under a new key.

Venues configured by environment (`VENUES`) are listed too, read-only: their settings live in the
environment. A test runs the venue check (`venue_check`) within a time limit and keeps its
outcome, balance and log on the connection; keys never reach an answer, a log line or an error.
`open_keys` with the `open_venue` the bootstrap gives is how a stored connection becomes an
`Exchange`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import msgspec

from app.domain.connections import (
    GENERATE_KEY,
    PAPER,
    Connection,
    ConnectionConflict,
    ConnectionTest,
    NewConnection,
    UnknownConnection,
    VenueKeys,
    check_keys,
    check_name,
    check_url,
    checked,
    outcome_of,
)
from app.ports.connections import (
    Cipher,
    ConnectionChanges,
    ConnectionRecord,
    ConnectionStore,
    NameTaken,
    SealedKeys,
    SealedRows,
)
from app.ports.errors import SecretsUnreadable
from app.ports.exchange import Exchange
from app.services.venue_check import check_venue

log = logging.getLogger("signalgate.connections")
_CLOSE_SECONDS = 5.0


class KeysLocked(Exception):
    """Keys cannot be sealed or opened: SECRETS_KEY is unset, or none of its keys opens them."""


@dataclass(frozen=True, slots=True)
class ConnectionChange:
    """A change of a stored connection; None leaves a field as it is. The key fields given
    replace the stored ones (the others stay)."""

    name: str | None = None
    enabled: bool | None = None
    api_url: str | None = None
    clear_api_url: bool = False
    keys: VenueKeys = field(default_factory=VenueKeys)
    clear_api_password: bool = False


class _Keys(msgspec.Struct, omit_defaults=True):
    api_key: str | None = None
    api_secret: str | None = None
    api_password: str | None = None


class Connections:
    def __init__(
        self,
        store: ConnectionStore,
        cipher: Cipher | None,
        *,
        venue_modes: Mapping[str, tuple[str, ...]],
        environment: Sequence[tuple[Connection, VenueKeys]],
        open_venue: Callable[[Connection, VenueKeys], Exchange],
        clock: Callable[[], datetime],
        timeout_seconds: float = 20.0,
        hide: Callable[[VenueKeys], None] = lambda _: None,
        also_sealed: Sequence[SealedRows] = (),
    ) -> None:
        """
        Args:
            store: the stored connections.
            cipher: seals and opens their keys; None while SECRETS_KEY is unset.
            venue_modes: each venue a connection may name, with the modes it trades in.
            environment: the venues of VENUES as read-only connections, with their keys.
            open_venue: the venue of a connection, built with its keys (raises ValueError with
                a sentence when it cannot be).
            clock: the time of changes and tests.
            timeout_seconds: how long a test may take.
            hide: told every key this process handles, before it is used: the process's log
                hides them from then on (a venue library may log what it sends).
            also_sealed: other secrets sealed under SECRETS_KEY, sealed again by `rekey` too.
        """
        self._store = store
        self._cipher = cipher
        self._venue_modes = venue_modes
        self._environment = {c.name: (c, keys) for c, keys in environment}
        self._open_venue = open_venue
        self._clock = clock
        self._timeout = timeout_seconds
        self._hide = hide
        self._also_sealed = tuple(also_sealed)

    # --- reads ----------------------------------------------------------------------------------

    def list_all(self) -> list[Connection]:
        """The environment's connections, then the stored ones."""
        return [c for c, _ in self._environment.values()] + self._store.all()

    def get(self, ref: str) -> Connection:
        """By name, or a stored connection's id.

        Raises:
            UnknownConnection: none has it.
        """
        if ref in self._environment:
            return self._environment[ref][0]
        number = ref.isascii() and ref.isdigit() and len(ref) <= 18  # a database integer
        found = self._store.get(int(ref) if number else ref)
        if found is None:
            raise UnknownConnection(f"no connection is named or numbered {ref[:40]!r}")
        return found

    def open_keys(self, connection: Connection) -> VenueKeys:
        """The keys of `connection`, in clear, for building its venue.

        Raises:
            KeysLocked: SECRETS_KEY is unset or opens none of them.
        """
        if connection.id is None:
            return self._environment[connection.name][1]
        token = self._store.sealed_keys(connection.id)
        if token is None:
            return VenueKeys()
        if self._cipher is None:
            raise KeysLocked(
                f"SECRETS_KEY is not set, so the keys of {connection.name} cannot be opened: set"
                " it to the key they were stored with."
            )
        try:
            keys = _keys_of(msgspec.json.decode(self._cipher.open(token), type=_Keys))
        except SecretsUnreadable:
            raise KeysLocked(
                f"no key of SECRETS_KEY opens the keys of {connection.name}: add the key they"
                " were stored with (SECRETS_KEY=new,old while a rekey is under way)."
            ) from None
        self._hide(keys)
        return keys

    # --- changes --------------------------------------------------------------------------------

    def add(self, new: NewConnection) -> Connection:
        """Store `new`, its keys sealed.

        Raises:
            InvalidConnection: a rule broken (its field named).
            ConnectionConflict: the name is taken.
            KeysLocked: keys given while SECRETS_KEY is unset.
        """
        checked(new, self._venue_modes)
        self._free(new.name)
        try:
            added = self._store.add(
                ConnectionRecord(name=new.name, venue=new.venue, mode=new.mode,
                                 enabled=new.enabled, api_url=new.api_url,
                                 keys=self._seal(new.keys)),
                self._clock(),
            )  # fmt: skip
        except NameTaken:
            raise self._taken(new.name) from None
        log.info("connection %s added: %s %s", added.name, added.venue, added.mode)
        return added

    def change(self, ref: str, change: ConnectionChange) -> Connection:
        """Rename, enable or disable a stored connection, or replace its keys or api_url.

        Raises:
            UnknownConnection, InvalidConnection, ConnectionConflict, KeysLocked.
        """
        connection = self._stored(ref, "changed")
        assert connection.id is not None
        if change.name is not None and change.name != connection.name:
            self._free(check_name(change.name))
        check_url(change.api_url)
        sealed = None
        if change.keys.fields_set or change.clear_api_password:
            if connection.venue == PAPER:
                raise ConnectionConflict(
                    f"{connection.name} is a paper connection: it takes no keys."
                )
            sealed = self._seal(self._merged(connection, change))
        if connection.venue == PAPER and change.api_url is not None:
            raise ConnectionConflict(
                f"{connection.name} is a paper connection: it takes no api_url."
            )
        changes = ConnectionChanges(name=change.name, enabled=change.enabled,
                                    api_url=change.api_url, clear_api_url=change.clear_api_url,
                                    keys=sealed)  # fmt: skip
        try:
            changed = self._store.change(connection.id, changes, self._clock())
        except NameTaken:
            raise self._taken(change.name or "") from None
        except LookupError:
            raise UnknownConnection(f"{connection.name} was removed meanwhile") from None
        log.info("connection %s changed: %s", changed.name, _what(change))
        return changed

    def remove(self, ref: str) -> Connection:
        """Raises UnknownConnection, ConnectionConflict (a connection of the environment)."""
        connection = self._stored(ref, "removed")
        assert connection.id is not None
        if not self._store.remove(connection.id):
            raise UnknownConnection(f"{connection.name} was removed meanwhile")
        log.info("connection %s removed", connection.name)
        return connection

    def rekey(self) -> int:
        """Seal every stored connection's keys, and the other secrets (`also_sealed`), again
        under SECRETS_KEY's first key; how many.

        Raises:
            KeysLocked: SECRETS_KEY is unset, or none of its keys opens some of them (named;
                the others are sealed again all the same).
        """
        cipher = self._require_cipher("keys cannot be sealed again")
        rows: list[tuple[str | None, str, str, Callable[[str, str], bool]]] = [
            (name, name, token, partial(self._store.reseal, connection_id))
            for connection_id, name, token in self._store.every_sealed()
        ]
        for sealed in self._also_sealed:
            rows += [(None, what, token, partial(sealed.reseal, ref))
                     for ref, what, token in sealed.every_sealed()]  # fmt: skip
        resealed, names, others = 0, [], []
        for name, what, token, reseal in rows:
            try:
                fresh = cipher.reseal(token)
            except SecretsUnreadable:
                if name is None:
                    others.append(what)
                else:
                    names.append(name)
                continue
            resealed += reseal(token, fresh)
        log.info("secrets rekeyed: %d sealed under the first key of SECRETS_KEY", resealed)
        if names or others:
            unreadable = [f"the keys of {', '.join(names)}"] if names else []
            raise KeysLocked(
                f"no key of SECRETS_KEY opens {' and '.join(unreadable + others)} ({resealed}"
                " others sealed again): add the key they were stored with and run rekey again."
            )
        return resealed

    # --- the test -------------------------------------------------------------------------------

    async def test(self, ref: str) -> Connection:
        """Run the venue check within the time limit; keep its outcome on a stored connection.

        Raises:
            UnknownConnection, KeysLocked.
        """
        connection = await asyncio.to_thread(self.get, ref)
        keys = await asyncio.to_thread(self.open_keys, connection)
        result = await self._check(connection, keys)
        log.log(logging.INFO if result.status == "ok" else logging.WARNING,
                "connection %s tested: %s", connection.name, result.reason)  # fmt: skip
        if connection.id is None:
            return msgspec.structs.replace(connection, last_test=result)
        saved = await asyncio.to_thread(self._store.save_test, connection.id, result)
        if saved is None:
            raise UnknownConnection(f"{connection.name} was removed during its test")
        return saved

    async def _check(self, connection: Connection, keys: VenueKeys) -> ConnectionTest:
        if connection.venue == PAPER:
            return ConnectionTest(status="ok", reason="a paper venue is simulated: nothing to"
                                  " ask.", tested_at=self._clock())  # fmt: skip
        try:
            venue = self._open_venue(connection, keys)
        except ValueError as error:
            reason = keys.redact(str(error).rstrip("."))
            return ConnectionTest(status="failed", reason=f"{reason}.", tested_at=self._clock())
        try:
            async with asyncio.timeout(self._timeout):
                report = await check_venue(connection.name, venue)
        except TimeoutError:
            return ConnectionTest(
                status="failed",
                reason=f"the venue did not finish the check within {self._timeout:g} s: check"
                " api_url and this machine's network, or raise CONNECTION_TEST_TIMEOUT_SECONDS.",
                tested_at=self._clock(),
            )
        finally:
            await _close(venue)
        status, reason = outcome_of(report.problems, report.warnings,
                                    unreachable=report.unreachable, keys=keys)  # fmt: skip
        return ConnectionTest(status=status, reason=reason, tested_at=self._clock(),
                              balance=report.balance,
                              log=[keys.redact(line) for line in report.log])  # fmt: skip

    # --- helpers --------------------------------------------------------------------------------

    def _stored(self, ref: str, verb: str) -> Connection:
        connection = self.get(ref)
        if connection.id is None:
            raise ConnectionConflict(
                f"{connection.name} is configured by environment (VENUES): it cannot be {verb}"
                f" here; change its {connection.name.upper()}_... settings instead."
            )
        return connection

    def _free(self, name: str) -> None:
        if name in self._environment:
            raise self._taken(name)

    def _taken(self, name: str) -> ConnectionConflict:
        where = " (in VENUES)" if name in self._environment else ""
        return ConnectionConflict(f"a connection named {name} exists{where}: pick another name.")

    def _require_cipher(self, why: str) -> Cipher:
        return require_cipher(self._cipher, why)

    def _seal(self, keys: VenueKeys) -> SealedKeys:
        if not keys.fields_set:
            return SealedKeys(None)
        self._hide(keys)
        cipher = self._require_cipher("keys cannot be stored encrypted")
        plain = _Keys(keys.api_key, keys.api_secret, keys.api_password)
        return SealedKeys(cipher.seal(msgspec.json.encode(plain)), keys.fields_set,
                          keys.api_key_hint)  # fmt: skip

    def _merged(self, connection: Connection, change: ConnectionChange) -> VenueKeys:
        old = self.open_keys(connection)
        given = check_keys(change.keys)
        return VenueKeys(
            given.api_key or old.api_key,
            given.api_secret or old.api_secret,
            None if change.clear_api_password else (given.api_password or old.api_password),
        )


def require_cipher(cipher: Cipher | None, why: str) -> Cipher:
    """`cipher`, or KeysLocked saying SECRETS_KEY is unset, so `why`, and how to make one."""
    if cipher is None:
        raise KeysLocked(
            f"SECRETS_KEY is not set, so {why}: set it to a key made by {GENERATE_KEY}."
        )
    return cipher


def _keys_of(plain: _Keys) -> VenueKeys:
    return VenueKeys(plain.api_key, plain.api_secret, plain.api_password)


def _what(change: ConnectionChange) -> str:
    said = [f"{name} replaced" for name in change.keys.fields_set]
    if change.name is not None:
        said.append(f"renamed {change.name}")
    if change.enabled is not None:
        said.append("enabled" if change.enabled else "disabled")
    if change.api_url is not None or change.clear_api_url:
        said.append("api_url " + ("removed" if change.api_url is None else "replaced"))
    if change.clear_api_password:
        said.append("api_password removed")
    return ", ".join(said) or "nothing"


async def _close(venue: Exchange) -> None:
    close = getattr(venue, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_CLOSE_SECONDS):
                await close()
