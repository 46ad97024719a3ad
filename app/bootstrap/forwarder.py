"""The forwarder (`signalgate forward`, or a thread of the web process in tests): moves accepted
alerts from the Redis inbox into SQL and onto the RQ queue, beating a heartbeat in Redis."""

from __future__ import annotations

import redis

from app.adapters.queue_rq import RqJobQueue
from app.adapters.redis.forwarder_beat import RedisForwarderHeartbeat
from app.adapters.redis.inbox import RedisInboxReader
from app.adapters.sql.db import SqlSignalStore
from app.adapters.system import SystemClock
from app.bootstrap.database import process_engine
from app.config.settings import Settings
from app.ports.signals import SignalStore
from app.services.intake import Forwarder


def build_forwarder(settings: Settings, signals: SignalStore | None = None) -> Forwarder:
    """The forwarder over `signals` (a store of its own when not given)."""
    if settings.redis_url is None:
        raise RuntimeError("REDIS_URL is not set: run `signalgate run` or set REDIS_URL.")
    if signals is None:
        signals = SqlSignalStore(process_engine(settings))
    client = redis.Redis.from_url(
        settings.redis_url, socket_timeout=5.0, socket_connect_timeout=1.0
    )
    return Forwarder(
        reader=RedisInboxReader(client),
        store=signals,
        queue=RqJobQueue(client, settings.queue_name),
        clock=SystemClock(),
        policy=settings.intake,
        heartbeat=RedisForwarderHeartbeat(client),
    )
