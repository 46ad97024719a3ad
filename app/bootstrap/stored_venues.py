"""The stored connections (`signalgate connections add`) as venues of a worker or the monitor,
beside the venues of VENUES, read again every `REFRESH_SECONDS` (a part of the wiring).

Every stored connection is built, enabled or not: a disabled one takes no new entry (the
executor denies it, `VenueAccess`), but its open brackets keep being driven, monitored and
reconciled, and so do a removed one's, until the process restarts. A connection whose venue,
mode, api_url or keys changed is built again; the old instance is closed when the process ends
(a monitor's task may be using it at that moment).

The venues, their modes and drift policies are the process's own dictionaries, changed in place
on the event loop: whoever iterates them across an await iterates a copy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, MutableMapping

from app.bootstrap.connections import stored_settings
from app.config.venues import VenueSettings
from app.domain.accounts import VenueAccess
from app.domain.connections import Connection, VenueKeys
from app.domain.reconciliation import DriftPolicy, default_policy
from app.ports.errors import Unavailable
from app.ports.exchange import Exchange
from app.services.connections import Connections, KeysLocked

log = logging.getLogger("signalgate.connections")
REFRESH_SECONDS = 5.0

# a stored connection with its keys opened, or why they could not be
Read = list[tuple[Connection, VenueKeys | str]]


class StoredVenues:
    """The stored connections' venues in `venues`, and which venues take new entries."""

    def __init__(
        self,
        connections: Connections,
        build: Callable[[VenueSettings], Exchange],
        *,
        venues: MutableMapping[str, Exchange],
        modes: MutableMapping[str, str],
        shared: Iterable[str],
        policies: MutableMapping[str, DriftPolicy] | None = None,
        drift_policy: DriftPolicy | None = None,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        """
        Args:
            connections: the connections service (its keys opened with SECRETS_KEY).
            build: a venue from its settings (raises ValueError with a sentence).
            venues: the process's venues by name, the stored ones added in place.
            modes: the process's venue modes, likewise.
            shared: the venues of VENUES, which an account naming no connection trades on.
            policies: the reconciler's drift policies by venue, likewise (`drift_policy` if
                set, else by mode).
            refresh_seconds: how often the connections are read again.
        """
        self._connections, self._build = connections, build
        self._venues, self._modes, self._policies = venues, modes, policies
        self._drift_policy = drift_policy
        self._shared = frozenset(shared)
        self._refresh_seconds = refresh_seconds
        self._built: dict[str, tuple[object, ...]] = {}
        self._retired: list[Exchange] = []
        self._warned: set[str] = set()
        self._read_at = float("-inf")
        self._access = VenueAccess(self._shared, frozenset(venues), {})

    def access(self) -> VenueAccess:
        """Which venues take new entries, as last read."""
        return self._access

    def forget(self) -> None:
        """Read the connections again on the next `refresh`."""
        self._read_at = float("-inf")

    async def refresh(self) -> None:
        """Read the connections again if the last read is older than `refresh_seconds`; the
        read on a thread, the venues changed on the loop. An unreachable database keeps the
        last read (logged)."""
        if time.monotonic() - self._read_at < self._refresh_seconds:
            return
        self._read_at = time.monotonic()
        try:
            found = await asyncio.to_thread(self.read)
        except Unavailable as error:
            log.warning("connections not read again, the last read is used: %s", error)
            return
        self.apply(found)

    async def watch(self, stop: asyncio.Event) -> None:
        """`refresh` every `refresh_seconds` until `stop` (the monitor's task)."""
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception:  # a bad connection must not end the monitor
                log.exception("connections: reading them again failed; next try in %.0f s",
                              self._refresh_seconds)  # fmt: skip
            try:
                await asyncio.wait_for(stop.wait(), self._refresh_seconds)
            except TimeoutError:
                continue

    def read(self) -> Read:
        """Every stored connection with its keys opened (blocking).

        Raises:
            Unavailable: the database is unreachable.
        """
        found: Read = []
        for connection in self._connections.list_all():
            if connection.id is None:
                continue  # a venue of VENUES: built with the process
            try:
                found.append((connection, self._connections.open_keys(connection)))
            except KeysLocked as error:
                found.append((connection, str(error)))
        return found

    def apply(self, found: Read) -> None:
        """Build the connections new or changed since the last read; note which take no new
        entries, and why."""
        closed: dict[str, str] = {}
        seen = set()
        for connection, keys in found:
            name = connection.name
            seen.add(name)
            if name in self._shared:  # VENUES took the name after it was stored
                self._warn(name, f"connection {name} is not traded: a venue of VENUES has its"
                           " name; rename one of them")  # fmt: skip
                continue
            why = self._built_now(connection, keys)
            if why is None and not connection.enabled:
                why = f"is disabled (`signalgate connections enable {name}`)"
            if why is not None:
                closed[name] = why
        for name in self._built.keys() - seen:
            closed[name] = "was removed (`signalgate connections add` it again to trade on it)"
        self._access = VenueAccess(self._shared, frozenset(self._venues), closed)
        self._warn_shared_keys(found)

    def _warn_shared_keys(self, found: Read) -> None:
        """Connections holding one API key on one venue are one exchange account: each sees the
        other's trades and balances (named once, never the key)."""
        holders: dict[tuple[str, str | None, str], list[str]] = {}
        for connection, keys in found:
            if isinstance(keys, VenueKeys) and keys.api_key:
                place = (connection.venue, connection.api_url, keys.api_key)
                holders.setdefault(place, []).append(connection.name)
        for (venue, _, _), names in holders.items():
            if len(names) > 1:
                both = " and ".join(sorted(names))
                self._warn(both, f"connections {both} hold the same API key on {venue}: they are"
                           " one exchange account, and reconciliation counts the trades of each"
                           " as drift of the other; give each connection keys of its own (a"
                           " sub-account)")  # fmt: skip

    def _built_now(self, connection: Connection, keys: VenueKeys | str) -> str | None:
        """Build `connection`'s venue unless built as it is; why it cannot trade, or None."""
        name = connection.name
        if isinstance(keys, str):
            self._warn(name, keys)
            return f"cannot be opened ({keys.rstrip('.')})"
        fingerprint = (connection.venue, connection.mode, connection.api_url, keys)
        if self._built.get(name) == fingerprint:
            return None
        try:
            venue = self._build(stored_settings(connection, keys))
        except ValueError as error:
            said = keys.redact(str(error)).rstrip(".")
            self._warn(name, f"connection {name} cannot be traded: {said}")
            return f"cannot be built ({said})"
        if (old := self._venues.get(name)) is not None:
            self._retired.append(old)
        self._venues[name], self._modes[name] = venue, connection.mode
        if self._policies is not None:
            self._policies[name] = self._drift_policy or default_policy(connection.mode)
        self._built[name] = fingerprint
        self._warned.discard(name)
        log.info("connection %s: %s %s venue built", name, connection.venue, connection.mode)
        return None

    def _warn(self, name: str, sentence: str) -> None:
        if name not in self._warned:
            self._warned.add(name)
            log.warning("%s", sentence)

    async def close(self) -> None:
        """Close the instances replaced by a change (the current ones are the process's)."""
        retired, self._retired = self._retired, []
        for venue in retired:
            close = getattr(venue, "close", None)
            if close is not None:
                await close()
