"""Wiring of `signalgate orders resolve`: the book, the venues as a worker sees them (VENUES' and
the stored connections', paper ones through the monitor, over Redis), the account-and-symbol
locks, and a bracket driver."""

from __future__ import annotations

import asyncio

from app.adapters.redis.locks import RedisKeyLocks
from app.adapters.sql.db import make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.system import SystemClock
from app.bootstrap.connections import build_connections
from app.bootstrap.redis_clients import async_redis, sync_redis
from app.bootstrap.remote_venues import remote_venue, remote_venues
from app.bootstrap.stored_venues import StoredVenues
from app.bootstrap.venues import close_venues, venue_modes
from app.config.settings import Settings
from app.services.brackets.driver import BracketDriver
from app.services.brackets.resolve import resolve_order


def resolve(settings: Settings, client_order_id: str, *, found: bool) -> str:
    """Settle an order in doubt (see `resolve_order`); the sentence saying how.

    Raises:
        ResolveError: it was not settled (the sentence says why).
    """
    assert settings.redis_url is not None
    engine = make_engine(settings.database_url)
    store = SqlExecutionStore(engine)

    async def run() -> str:
        client = async_redis(settings.redis_url or "")
        venues = remote_venues(settings, client)
        stored = StoredVenues(
            build_connections(settings, engine), remote_venue(client),
            venues=venues, modes=venue_modes(settings), shared=list(venues),
        )  # fmt: skip
        try:
            await stored.refresh()  # the stored connections' venues join VENUES'

            return await resolve_order(
                store,
                venues,
                RedisKeyLocks(sync_redis(settings.redis_url or "")),
                BracketDriver(store, SystemClock().now),
                client_order_id,
                found=found,
            )
        finally:
            await stored.close()
            await close_venues(venues)
            await client.aclose()

    try:
        return asyncio.run(run())
    finally:
        engine.dispose()
