"""Wiring of connections: the store, the cipher of SECRETS_KEY, the venues a connection may name
and how a connection becomes an `Exchange` (`connection_venue`, which a test uses and an account
will trade through).

Built on first use in the web process (`/connections`); the venues a connection may name are
`app.bootstrap.venue_modes`'s, which the web process describes its API with at start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy import Engine

from app.adapters.sql.accounts import SqlAccountStore
from app.adapters.sql.connections import SqlConnectionStore
from app.adapters.sql.db import make_engine
from app.adapters.system import SystemClock
from app.bootstrap.logs import hide_in_logs
from app.bootstrap.venue_modes import VENUE_MODES
from app.config.settings import Settings
from app.config.venues import TradingMode, VenueSettings
from app.domain.connections import PAPER, Connection, VenueKeys
from app.ports.connections import Cipher
from app.ports.exchange import Exchange
from app.services.account_channels import SealedAccountChannels
from app.services.connections import Connections


def environment_connections(settings: Settings) -> list[tuple[Connection, VenueKeys]]:
    """The venues of VENUES as read-only connections, with their keys."""
    found = []
    for venue in settings.venues:
        keys = VenueKeys(venue.api_key, venue.api_secret, venue.api_password)
        shown = Connection(id=None, name=venue.name, venue=venue.exchange, mode=venue.mode.value,
                           source="environment", enabled=True, key_fields=list(keys.fields_set),
                           api_key_hint=keys.api_key_hint, api_url=venue.api_url)  # fmt: skip
        found.append((shown, keys))
    return found


def connection_venue(
    connection: Connection, keys: VenueKeys, configured: Mapping[str, VenueSettings]
) -> Exchange:
    """The live or testnet venue of `connection`, with its keys: a venue of VENUES as its
    settings say, a stored one from its own fields.

    Raises:
        VenueSetupError: it cannot be built (a sentence says why); a paper connection is
            simulated by the processes that trade it, not built here.
    """
    from app.bootstrap.venues import VenueSetupError, live_venue  # noqa: PLC0415 - loads ccxt

    if connection.venue == PAPER:
        raise VenueSetupError(f"{connection.name} is a paper connection: nothing to connect to")
    settings = configured.get(connection.name) if connection.id is None else None
    return live_venue(settings or stored_settings(connection, keys))


def stored_settings(connection: Connection, keys: VenueKeys) -> VenueSettings:
    """A stored connection's venue as VENUES would configure it (a paper one with the default
    fee and balances)."""
    return VenueSettings(
        name=connection.name,
        exchange=connection.venue,
        mode=TradingMode(connection.mode),
        api_key=keys.api_key,
        api_secret=keys.api_secret,
        api_password=keys.api_password,
        api_url=connection.api_url,
    )


def build_connections(
    settings: Settings,
    engine: Engine,
    open_venue: Callable[[Connection, VenueKeys], Exchange] | None = None,
) -> Connections:
    """The connections service over `engine`'s database, sealing with SECRETS_KEY; its venues
    built by `connection_venue` unless `open_venue` is given."""
    configured = {venue.name: venue for venue in settings.venues}
    return Connections(
        SqlConnectionStore(engine),
        cipher_of(settings),
        venue_modes=VENUE_MODES,
        environment=environment_connections(settings),
        open_venue=open_venue
        or (lambda connection, keys: connection_venue(connection, keys, configured)),
        clock=SystemClock().now,
        timeout_seconds=settings.connection_test_timeout_seconds,
        hide=lambda keys: hide_in_logs(keys.values),
        also_sealed=[SealedAccountChannels(SqlAccountStore(engine))],  # rekey: theirs too
    )


def cipher_of(settings: Settings) -> Cipher | None:
    """The cipher of SECRETS_KEY; None while it is unset."""
    if not settings.secrets_keys:
        return None
    from app.adapters.secrets import FernetCipher  # noqa: PLC0415 - loads cryptography

    return FernetCipher(settings.secrets_keys)


@contextmanager
def opened_connections(settings: Settings) -> Iterator[Connections]:
    """The connections service for one command, its database engine closed after."""
    engine = make_engine(settings.database_url)
    try:
        yield build_connections(settings, engine)
    finally:
        engine.dispose()


def new_secrets_key() -> str:
    """A fresh SECRETS_KEY."""
    from app.adapters.secrets import new_key  # noqa: PLC0415 - loads cryptography

    return new_key()
