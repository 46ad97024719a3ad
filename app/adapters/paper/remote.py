"""Paper venues shared over Redis: one process hosts them, every other process trades on them.

A `PaperExchange` is an in-memory engine saved to SQL, so two processes holding the same venue
would overwrite each other. `PaperHost` (module `host`) runs in one process per deployment (the
monitor), owns the venues and feeds them ticks; `RemotePaperExchange` is the `Exchange` port
everywhere else.

Protocol: a client pushes an `Envelope` on `<prefix>:requests` and, in the same round trip, waits
with BLPOP on `<prefix>:reply:<id>`. The host pops requests in batches, runs them in arrival order
and pushes every reply of a batch, with a short expiry, in one pipeline that also pops the next
batch. A request past its deadline (wall clock; keep the hosts' clocks in sync) is dropped
unexecuted, and a client that gets no reply also withdraws its request from the list, so a
create_order that timed out either ran before any later request of its client or never runs:
looking the order up by its client order id afterwards tells which. Reads a client makes in the
same turn of its event loop (a signal's book and balances) travel as one `wire.BATCH` request,
each with its own reply; a host older than batches refuses one whole, running none of its
calls, which then go alone. An order change (create, cancel) always travels alone: the signals
of two keys that a worker runs side by side reach the same step together, and in one batch each
key's reply would wait for the other's order to be executed and saved (their runs then stay in
step, the worker idle while the host works and the host idle while the worker does: 20% fewer
signals a second). A reply or result that cannot be read (a host of another release) fails its
calls as a lost reply does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
import redis.asyncio
from redis.exceptions import RedisError

from app.adapters.circuit import BreakerState, CircuitBreaker
from app.adapters.paper import wire
from app.adapters.paper.host import PaperHost
from app.domain.market import Market, OrderBook
from app.domain.orders import Fill, OrderRequest, OrderStatus
from app.ports.errors import ExchangeError
from app.ports.exchange import Balance, Capabilities, Exchange, Position

__all__ = ["PaperHost", "RemotePaperExchange"]  # PaperHost lives in `host`; imported from here too

log = logging.getLogger(__name__)

A = TypeVar("A")
R = TypeVar("R")

_GRACE_SECONDS = 1.0  # beyond the server-side BLPOP timeout, for a Redis that hangs
# how long calls go alone after a host refused a batch (a monitor of an older version, until
# a rolling deploy restarts it)
_ALONE_SECONDS = 60.0


# a call waiting to be sent: its method, its arguments (msgpack), and where its reply goes
_Waiting = tuple[wire.Method[Any, Any], bytes, "asyncio.Future[wire.Reply]"]


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
        self._requests_key = f"{prefix}:requests".encode()
        self._reply_prefix = f"{prefix}:reply:".encode()
        self._wait = b"%g" % timeout_seconds  # BLPOP's timeout, in seconds
        self._markets_ttl = markets_ttl_seconds
        self._markets: dict[str, Market] | None = None
        self._markets_at = 0.0
        self._waiting: list[_Waiting] = []  # calls of this turn of the loop, sent together
        self._waiting_loop: asyncio.AbstractEventLoop | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._alone_until = 0.0  # monotonic time until which every call is sent alone

    def __repr__(self) -> str:
        return f"RemotePaperExchange({self.name!r})"

    @property
    def circuit_state(self) -> BreakerState:
        """Routing reads it to skip a venue whose host is not answering."""
        return self.breaker.state

    async def _request(self, method: wire.Method[A, R], args: A) -> R:
        """One call through the breaker; the host's error re-raised as the same port type.

        Reads made in the same turn of the event loop (the reads a signal gathers: its book,
        the balances) travel as one request: one envelope, one round trip, run in order. An
        order change travels alone (`wire.Method.alone`).
        """
        self.breaker.check(self.name)
        loop = asyncio.get_running_loop()
        if self._waiting_loop is not loop:  # calls left by a loop that stopped before sending
            self._waiting, self._waiting_loop = [], loop  # them went with it
        answer: asyncio.Future[wire.Reply] = loop.create_future()
        call = (method, wire.encode(args), answer)
        if method.alone:
            self._start_sending([call])
        else:
            self._waiting.append(call)
            if len(self._waiting) == 1:
                loop.call_soon(self._send_waiting)
        reply = await answer
        if reply.error is not None:
            raise wire.error_from(reply)
        try:
            return method.result_decoder.decode(reply.result)
        except msgspec.DecodeError as error:  # a host of another release; the call may have run
            trouble = f"sent a result that could not be read ({error})"
            raise self._lost(
                method, trouble, "; run one signalgate version in every process."
            ) from error

    def _send_waiting(self) -> None:
        calls, self._waiting = self._waiting, []
        alone = time.monotonic() < self._alone_until
        for request in ([call] for call in calls) if alone else [calls]:
            self._start_sending(request)

    def _start_sending(self, calls: list[_Waiting]) -> None:
        task = asyncio.ensure_future(self._send_or_fail(calls))
        self._sending.add(task)  # referenced until done (the loop keeps weak references)
        task.add_done_callback(self._sending.discard)

    async def _send_or_fail(self, calls: list[_Waiting]) -> None:
        """`_send`, whose unexpected error (a reply that cannot be read or matched to its
        calls) fails every call as a lost reply would, rather than leaving them waiting: a
        create's outcome is unknown then, and no call gets another's error."""
        try:
            await self._send(calls)
        except Exception as error:  # noqa: BLE001 - handed to the callers as their own error
            self._fail(calls, f"sent a reply that could not be read ({error})", ".")
        except BaseException:  # cancelled with the loop: so are the calls
            for _, _, answer in calls:
                answer.cancel()
            raise

    def _fail(self, calls: list[_Waiting], trouble: str, then: str) -> None:
        """Fail each call still awaited as its method fails without a reply (`_lost`)."""
        for method, _, answer in calls:
            error = self._lost(method, trouble, then)
            if not answer.done():
                answer.set_exception(error)

    def _lost(self, method: wire.Method[Any, Any], trouble: str, then: str) -> ExchangeError:
        """The error of a call whose reply was lost or cannot be read: its method's `no_reply`
        (a create: OutcomeUnknown, to be looked up by its client order id, never sent again)."""
        self.breaker.record_failure()
        hint = " Look the order up by its client order id." if method is wire.CREATE_ORDER else ""
        return method.no_reply(
            f"The paper host {trouble} for {method.name} on {self.name}{then}{hint}"
        )

    async def _send(self, calls: list[_Waiting]) -> None:
        """Send `calls` as one request and hand each its reply, or its `no_reply` error."""
        request_id = os.urandom(16).hex()
        if len(calls) == 1:
            name, args = calls[0][0].name, calls[0][1]
        else:
            name = wire.BATCH
            args = wire.encode([wire.Call(m.name, msgspec.Raw(a)) for m, a, _ in calls])
        deadline = time.time() + self.timeout_seconds
        envelope = wire.encode(
            wire.Envelope(request_id, self.name, name, msgspec.Raw(args), deadline)
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
            wait = self.timeout_seconds
            self._fail(calls, trouble, f" within {wait:g} s; is the monitor process running?")
            return
        reply = wire.reply_decoder.decode(popped[1])
        if len(calls) > 1 and wire.refuses_batch(reply):
            # a host of the version before batches (a rolling deploy) ran none of the calls:
            # each goes again alone, a create too (not a blind re-send: it never ran)
            log.info("paper host of %s has no batches; sending calls alone for %.0f s",
                     self.name, _ALONE_SECONDS)  # fmt: skip
            self._alone_until = time.monotonic() + _ALONE_SECONDS
            await asyncio.gather(*(self._send_or_fail([call]) for call in calls))
            return
        batched = len(calls) > 1 and reply.error is None
        replies = wire.replies_decoder.decode(reply.result) if batched else [reply] * len(calls)
        if len(replies) != len(calls):  # none can be matched to its call for sure
            self._fail(calls, f"sent {len(replies)} replies to {len(calls)} calls", ".")
            return
        for (_, _, answer), one in zip(calls, replies, strict=True):
            self.breaker.record_success()
            if not answer.done():  # unless its caller has given up on it
                answer.set_result(one)

    async def _push_and_wait(self, envelope: bytes, request_id: str) -> Any:
        """RPUSH the request and BLPOP its reply in one round trip (`wire.run`)."""
        replies = await wire.run(
            self._redis,
            (
                wire.command(b"RPUSH", self._requests_key, envelope),
                wire.command(b"BLPOP", self._reply_prefix + request_id.encode(), self._wait),
            ),
        )
        return replies[1]

    async def _withdraw(self, envelope: bytes) -> None:
        """Take back a request the host has not popped yet, so that it never runs, even on a
        host whose clock is behind."""
        try:
            # redis-py types the value as str; bytes are sent as they are
            await self._redis.lrem(self._requests_key, 1, envelope)  # type: ignore[arg-type]
        except RedisError as error:
            log.info("could not withdraw a request from %s: %s", self._requests_key.decode(), error)

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
