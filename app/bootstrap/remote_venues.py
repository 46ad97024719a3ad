"""The venues as a worker, the strategy engine or the web process sees them: paper ones through
the monitor's host, live and testnet ones through their adapters.

Importing this module does not import ccxt: a process whose venues are all paper never loads it
(the web process marks positions with these, and ccxt would double its start or, imported on
its event loop, hold every request meanwhile). A live venue's adapter is imported when it is built.
"""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio

from app.adapters.paper.exchange import PAPER_CAPABILITIES
from app.adapters.paper.remote import RemotePaperExchange
from app.config.settings import Settings
from app.config.venues import VenueSettings
from app.ports.exchange import Exchange


def remote_venues(
    settings: Settings, client: redis.asyncio.Redis, *, timeout_seconds: float = 5.0
) -> dict[str, Exchange]:
    """Every venue as a worker or the web process sees it: paper ones through the monitor.
    `client`'s socket timeout must be longer than `timeout_seconds`."""
    build = remote_venue(client, timeout_seconds=timeout_seconds)
    return {venue.name: build(venue) for venue in settings.venues}


def remote_venue(
    client: redis.asyncio.Redis, *, timeout_seconds: float = 5.0
) -> Callable[[VenueSettings], Exchange]:
    """How a worker builds a venue: a paper one through the monitor's host, a live or testnet
    one through its adapter. The builder raises VenueSetupError."""

    def build(venue: VenueSettings) -> Exchange:
        if venue.is_paper:
            return RemotePaperExchange(
                venue.name, client, capabilities=PAPER_CAPABILITIES, timeout_seconds=timeout_seconds
            )
        from app.bootstrap.venues import live_venue  # noqa: PLC0415 - loads ccxt

        return live_venue(venue)

    return build
