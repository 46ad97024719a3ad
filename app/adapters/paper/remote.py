"""Paper venues shared over Redis: one process hosts them, every other process trades on them.

A `PaperExchange` is an in-memory engine saved to SQL, so two processes holding the same venue
would overwrite each other. `PaperHost` runs in one process per deployment (the monitor), owns
the venues and feeds them ticks; `RemotePaperExchange` is the `Exchange` port everywhere else.

Protocol: a client pushes an `Envelope` on `<prefix>:requests` and, in the same round trip, waits
with BLPOP on `<prefix>:reply:<id>`. The host pops requests in batches, runs them in arrival order
and pushes every reply of a batch, with a short expiry, in one pipeline that also pops the next
batch. A request past its deadline (wall clock; keep the hosts' clocks in sync) is dropped
unexecuted, and a client that gets no reply also withdraws its request from the list, so a
create_order that timed out either ran before any later request of its client or never runs:
looking the order up by its client order id afterwards tells which.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
import redis.asyncio
from redis.exceptions import RedisError

from app.adapters.circuit import BreakerState, CircuitBreaker
from app.adapters.paper import wire
from app.adapters.paper.exchange import PaperExchange
from app.domain.market import Market, OrderBook
from app.domain.orders import Fill, OrderRequest, OrderStatus
from app.ports.errors import ExchangeError, Fatal
from app.ports.exchange import Balance, Capabilities, Exchange, Position

log = logging.getLogger(__name__)

A = TypeVar("A")
R = TypeVar("R")

_IDLE_WAIT_SECONDS = 0.2  # how long an idle host blocks before looking at its stop event
_REDIS_BACKOFF_SECONDS = 1.0
_GRACE_SECONDS = 1.0  # beyond the server-side BLPOP timeout, for a Redis that hangs


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

    async def _reply_and_take(self, replies: list[tuple[str, bytes]], *, take: bool) -> list[bytes]:
        """Push the replies and pop the next batch in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, data in replies:
                pipe.rpush(key, data)
                pipe.expire(key, wire.REPLY_TTL_SECONDS)
            if take:
                pipe.lpop(self._requests_key, self._batch_size)
            if not len(pipe):
                return []
            results = await pipe.execute()
        return (results[-1] or []) if take else []

    async def _execute(self, batch: list[bytes]) -> list[tuple[str, bytes]]:
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
            replies.append((self._reply_prefix + envelope.id, wire.encode(reply)))
        return replies

    async def _run(self, envelope: wire.Envelope) -> wire.Reply:
        method = wire.METHODS.get(envelope.method)
        exchange = self._exchanges.get(envelope.venue)
        if method is None:
            missing = f"method {envelope.method!r}; run one signalgate version in every process"
            return wire.error_reply(Fatal(f"The paper host has no {missing}."))
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


class RemotePaperExchange:
    """Implements `app.ports.exchange.Exchange` for a paper venue hosted by a `PaperHost`.

    Needs a Redis client made with decode_responses=False and without a socket timeout shorter
    than `timeout_seconds` (each call blocks one pooled connection while it waits).
    """

    # no expiry: a request waiting in the host's list may still be executed after its timeout
    request_expiry_seconds: float | None = None

    def __init__(
        self,
        name: str,
        redis: redis.asyncio.Redis,
        *,
        capabilities: Capabilities,
        timeout_seconds: float = 5.0,
        prefix: str = wire.DEFAULT_PREFIX,
        breaker: CircuitBreaker | None = None,
        markets_ttl_seconds: float = 30.0,
    ) -> None:
        wire.require_bytes(redis)
        self.name = name
        self.capabilities = capabilities
        self.timeout_seconds = timeout_seconds
        self.breaker = breaker or CircuitBreaker()
        self._redis = redis
        self._requests_key = f"{prefix}:requests"
        self._reply_prefix = f"{prefix}:reply:"
        self._markets_ttl = markets_ttl_seconds
        self._markets: dict[str, Market] | None = None
        self._markets_at = 0.0

    def __repr__(self) -> str:
        return f"RemotePaperExchange({self.name!r})"

    @property
    def circuit_state(self) -> BreakerState:
        """Routing reads it to skip a venue whose host is not answering."""
        return self.breaker.state

    async def _request(self, method: wire.Method[A, R], args: A) -> R:
        """One request through the breaker; the host's error re-raised as the same port type."""
        self.breaker.check(self.name)
        request_id = uuid.uuid4().hex
        envelope = wire.encode(
            wire.Envelope(
                request_id,
                self.name,
                method.name,
                msgspec.Raw(wire.encode(args)),
                time.time() + self.timeout_seconds,
            )
        )
        popped: Any = None
        trouble = "did not answer"
        try:
            async with asyncio.timeout(self.timeout_seconds + _GRACE_SECONDS):
                popped = await self._push_and_wait(envelope, request_id)
        except (RedisError, TimeoutError) as error:
            trouble = f"could not be reached through Redis ({error or 'timed out'})"
        if popped is None:
            await self._withdraw(envelope)
            self.breaker.record_failure()
            hint = (
                " Look the order up by its client order id." if method is wire.CREATE_ORDER else ""
            )
            raise method.no_reply(
                f"The paper host {trouble} for {method.name} on {self.name} within "
                f"{self.timeout_seconds:g} s; is the monitor process running?{hint}"
            )
        self.breaker.record_success()
        reply = wire.reply_decoder.decode(popped[1])
        if reply.error is not None:
            raise wire.error_from(reply)
        return method.result_decoder.decode(reply.result)

    async def _push_and_wait(self, envelope: bytes, request_id: str) -> Any:
        """RPUSH the request and BLPOP its reply in one round trip, written on a pooled
        connection (a pipeline object per call costs a third more CPU; docs/benchmarks.md).
        A connection whose replies were not both read (an error, a timeout, a
        cancellation) is closed, never handed to the next request with a reply waiting."""
        pool = self._redis.connection_pool
        # get_connection is untyped in redis-py
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(
                connection.pack_commands(
                    (
                        ("RPUSH", self._requests_key, envelope),
                        ("BLPOP", self._reply_prefix + request_id, self.timeout_seconds),
                    )
                )
            )
            await connection.read_response()
            return await connection.read_response()
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        finally:
            await pool.release(connection)

    async def _withdraw(self, envelope: bytes) -> None:
        """Take back a request the host has not popped yet, so that it never runs, even on a
        host whose clock is behind."""
        try:
            # redis-py types the value as str; bytes are sent as they are
            await self._redis.lrem(self._requests_key, 1, envelope)  # type: ignore[arg-type]
        except RedisError as error:
            log.info("could not withdraw a request from %s: %s", self._requests_key, error)

    async def markets(self) -> dict[str, Market]:
        if self._markets is None or time.monotonic() - self._markets_at > self._markets_ttl:
            self._markets = await self._request(wire.MARKETS, wire.NoArgs())
            self._markets_at = time.monotonic()
        return self._markets

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        return await self._request(wire.ORDER_BOOK, wire.BookArgs(symbol, depth))

    async def balances(self) -> dict[str, Balance]:
        return await self._request(wire.BALANCES, wire.NoArgs())

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        return await self._request(wire.CREATE_ORDER, request)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        return await self._request(wire.CANCEL_ORDER, wire.OrderIdArgs(symbol, order_id))

    async def fetch_order(self, symbol: str, order_id: str) -> OrderStatus:
        return await self._request(wire.FETCH_ORDER, wire.OrderIdArgs(symbol, order_id))

    async def fetch_order_by_client_id(
        self, symbol: str, client_order_id: str
    ) -> OrderStatus | None:
        return await self._request(
            wire.FETCH_BY_CLIENT_ID, wire.ClientIdArgs(symbol, client_order_id)
        )

    async def open_orders(self, symbol: str | None = None) -> list[OrderStatus]:
        return await self._request(wire.OPEN_ORDERS, wire.OpenOrdersArgs(symbol))

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        return await self._request(wire.FILLS_SINCE, wire.FillsArgs(symbol, since))

    async def positions(self, symbols: Sequence[str] | None = None) -> list[Position]:
        wanted = None if symbols is None else list(symbols)
        return await self._request(wire.POSITIONS, wire.PositionsArgs(wanted))

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        await self._request(wire.SET_LEVERAGE, wire.LeverageArgs(symbol, leverage))


# mypy checks here that the remote venue keeps up with every method the port has or gains
_IMPLEMENTS_THE_PORT: type[Exchange] = RemotePaperExchange
