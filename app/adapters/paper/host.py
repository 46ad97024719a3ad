"""The host side of the paper venues' Redis protocol (written down in `remote`): the one
process of a deployment (the monitor) that owns the paper venues answers every other process's
calls on them and feeds the venues ticks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

import msgspec
import redis.asyncio
from redis.exceptions import RedisError

from app.adapters.paper import wire
from app.adapters.paper.exchange import PaperExchange
from app.ports.errors import ExchangeError, Fatal

log = logging.getLogger(__name__)

_IDLE_WAIT_SECONDS = 0.2  # how long an idle host blocks before looking at its stop event
_REDIS_BACKOFF_SECONDS = 1.0


class PaperHost:
    """Serves requests for the given paper exchanges over Redis; one per deployment."""

    def __init__(
        self,
        redis: redis.asyncio.Redis,
        exchanges: Mapping[str, PaperExchange],
        *,
        prefix: str = wire.DEFAULT_PREFIX,
        batch_size: int = 256,
    ) -> None:
        wire.require_bytes(redis)
        self._redis = redis
        self._exchanges = exchanges
        self._requests_key = f"{prefix}:requests"
        self._reply_prefix = f"{prefix}:reply:"
        self._batch_size = batch_size
        self._take = wire.command(b"LPOP", self._requests_key.encode(), b"%d" % batch_size)
        self._reply_ttl = b"%d" % wire.REPLY_TTL_SECONDS

    async def serve(self, stop: asyncio.Event) -> None:
        """Answer requests until `stop` is set; requests already taken are answered first."""
        batch: list[bytes] = []
        while batch or not stop.is_set():
            try:
                if batch:
                    replies = await self._execute(batch)
                    batch = await self._reply_and_take(replies, take=not stop.is_set())
                else:
                    batch = await self._wait_for_requests()
            except RedisError as error:
                # Requests taken but not answered time out on their clients, which treat them
                # as lost (a create becomes OutcomeUnknown and is looked up): nothing to redo.
                log.warning("paper host: Redis failed (%s); retrying in %.0f s", error,
                            _REDIS_BACKOFF_SECONDS)  # fmt: skip
                batch = []
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), _REDIS_BACKOFF_SECONDS)

    async def on_tick(self, symbol: str) -> None:
        """Refresh the resting orders of every venue for `symbol` from its current book."""
        for name, exchange in list(self._exchanges.items()):  # a copy: venues are added
            try:
                # open_orders(symbol) hands the venue the current book first (fills, triggers
                # and the save that follows): the public way to refresh one symbol.
                await exchange.open_orders(symbol)
            except ExchangeError as error:
                log.warning("paper venue %s could not refresh %s: %s", name, symbol, error)

    async def _wait_for_requests(self) -> list[bytes]:
        popped = await self._redis.blpop([self._requests_key], timeout=_IDLE_WAIT_SECONDS)
        if popped is None:
            return []
        request = popped[1]
        assert isinstance(request, bytes)  # decode_responses=False, checked at construction
        return [request]

    async def _reply_and_take(
        self, replies: list[tuple[bytes, bytes]], *, take: bool
    ) -> list[bytes]:
        """Push the replies and pop the next batch in one round trip."""
        commands = []
        for key, data in replies:
            commands.append(wire.command(b"RPUSH", key, data))
            commands.append(wire.command(b"EXPIRE", key, self._reply_ttl))
        if take:
            commands.append(self._take)
        if not commands:
            return []
        results = await wire.run(self._redis, commands)
        return (results[-1] or []) if take else []

    async def _execute(self, batch: list[bytes]) -> list[tuple[bytes, bytes]]:
        """Run the batch in order; a reply per request that was still awaited."""
        replies = []
        for data in batch:
            try:
                envelope = wire.envelope_decoder.decode(data)
            except msgspec.DecodeError as error:
                log.error("paper host: dropped an unreadable request (%s)", error)  # noqa: TRY400 - no trace to show
                continue
            if time.time() > envelope.deadline:
                log.warning("paper host: dropped %s on %s (id %s): its client had given up",
                            envelope.method, envelope.venue, envelope.id)  # fmt: skip
                continue
            reply = await self._run(envelope)
            key = (self._reply_prefix + envelope.id).encode()
            replies.append((key, wire.encode(reply)))
        return replies

    async def _run(self, envelope: wire.Envelope) -> wire.Reply:
        if envelope.method == wire.BATCH:
            return await self._run_batch(envelope)
        return await self._run_one(envelope)

    async def _run_one(self, envelope: wire.Envelope) -> wire.Reply:
        """One call (a host before `wire.BATCH` ran every request this way)."""
        method = wire.METHODS.get(envelope.method)
        exchange = self._exchanges.get(envelope.venue)
        if method is None:
            return wire.unknown_method(envelope.method)
        if exchange is None:
            missing = f"venue {envelope.venue!r}; make it a paper venue and restart the monitor"
            return wire.error_reply(Fatal(f"The paper host has no {missing}."))
        try:
            args = method.args_decoder.decode(envelope.args)
            result = await method.call(exchange, args)
        except msgspec.DecodeError as error:
            return wire.error_reply(Fatal(f"The paper host could not read {method.name}: {error}."))
        except ExchangeError as error:
            return wire.error_reply(error)
        except Exception as error:  # a host bug must answer, not kill the host
            log.exception("paper host: %s on %s failed", method.name, envelope.venue)
            return wire.error_reply(
                method.no_reply(f"The paper host failed on {method.name}: {error}")
            )
        return wire.Reply(result=msgspec.Raw(wire.encode(result)))

    async def _run_batch(self, envelope: wire.Envelope) -> wire.Reply:
        """Each call of a batch in order, as if each had come alone; a reply for each."""
        try:
            calls = wire.calls_decoder.decode(envelope.args)
        except msgspec.DecodeError as error:
            return wire.error_reply(Fatal(f"The paper host could not read a batch: {error}."))
        replies = []
        for call in calls:
            alone = wire.Envelope(envelope.id, envelope.venue, call.method, call.args,
                                  envelope.deadline)  # fmt: skip
            replies.append(await self._run(alone))
        return wire.Reply(result=msgspec.Raw(wire.encode(replies)))
