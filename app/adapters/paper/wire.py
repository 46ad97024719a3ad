"""The wire between `RemotePaperExchange` (any process) and `PaperHost` (the one process that
holds the paper venues): msgpack envelopes, one table of methods, errors by class name.

A request is `Envelope(id, venue, method, args, deadline)`; `args` and a reply's `result` are
msgpack of the method's own types, so Decimals travel as exact strings and Structs stay Structs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

import msgspec
import redis.asyncio

from app.domain.market import Market, OrderBook
from app.domain.orders import Fill, OrderRequest, OrderStatus
from app.ports.errors import (
    AuthenticationFailed,
    ExchangeError,
    Fatal,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    Retryable,
)
from app.ports.exchange import Balance, Exchange, Position

A = TypeVar("A")
R = TypeVar("R")

DEFAULT_PREFIX = "signalgate:paper"  # keys: <prefix>:requests, <prefix>:reply:<id>
REPLY_TTL_SECONDS = 10  # a reply nobody waits for any more (its client gave up) goes away


def command(*parts: bytes) -> bytes:
    """One Redis command as RESP bytes. The paper venues' few commands are packed here rather
    than by redis-py's `pack_commands`, whose general encoding of every argument cost each
    request more CPU than the rest of its client side (docs/benchmarks.md)."""
    return b"*%d\r\n" % len(parts) + b"".join(
        b"$%d\r\n%s\r\n" % (len(part), part) for part in parts
    )


async def run(client: redis.asyncio.Redis, commands: Sequence[bytes]) -> list[Any]:
    """Send `commands` (`command`'s) in one round trip on a pooled connection and return their
    replies. A connection whose replies were not all read (an error, a timeout, a
    cancellation) is closed, never handed to the next caller with a reply waiting.

    Raises:
        RedisError: Redis failed or answered an error.
    """
    pool = client.connection_pool
    # get_connection is untyped in redis-py
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await connection.send_packed_command(b"".join(commands))
        return [await connection.read_response() for _ in commands]
    except BaseException:
        await connection.disconnect(nowait=True)
        raise
    finally:
        await pool.release(connection)


def require_bytes(client: redis.asyncio.Redis) -> None:
    """Refuse a client that would decode the msgpack replies as text."""
    if client.connection_pool.connection_kwargs.get("decode_responses"):
        raise ValueError(
            "The paper venues need a Redis client made with decode_responses=False (msgpack)."
        )


class Envelope(msgspec.Struct, frozen=True, array_like=True):
    """One request; `deadline` is wall-clock epoch seconds after which the client has given up."""

    id: str
    venue: str
    method: str
    args: msgspec.Raw
    deadline: float


class Reply(msgspec.Struct, frozen=True, array_like=True):
    """Either `result` (msgpack of the method's result type) or a port error's class and text."""

    result: msgspec.Raw = msgspec.Raw(b"\xc0")  # msgpack nil: an error reply has no result
    error: str | None = None
    message: str = ""


class Call(msgspec.Struct, frozen=True, array_like=True):
    """One call of a `BATCH` request: a method's name and its msgpack arguments."""

    method: str
    args: msgspec.Raw


class NoArgs(msgspec.Struct, frozen=True, array_like=True):
    pass


class BookArgs(msgspec.Struct, frozen=True, array_like=True):
    symbol: str
    depth: int


class OrderIdArgs(msgspec.Struct, frozen=True, array_like=True):
    symbol: str
    order_id: str


class ClientIdArgs(msgspec.Struct, frozen=True, array_like=True):
    symbol: str
    client_order_id: str


class OpenOrdersArgs(msgspec.Struct, frozen=True, array_like=True):
    symbol: str | None


class FillsArgs(msgspec.Struct, frozen=True, array_like=True):
    symbol: str
    since: datetime


class PositionsArgs(msgspec.Struct, frozen=True, array_like=True):
    symbols: list[str] | None


class LeverageArgs(msgspec.Struct, frozen=True, array_like=True):
    symbol: str
    leverage: Decimal


class Method(Generic[A, R]):
    """One remote method: how its arguments and result travel, what it calls on the host, and
    which error a client raises when no reply comes back, and whether it travels alone (an
    order change: never in a batch with other calls)."""

    def __init__(
        self,
        name: str,
        args_type: type[A],
        result_type: Any,
        call: Callable[[Exchange, A], Awaitable[R]],
        no_reply: type[ExchangeError] = Retryable,
        *,
        alone: bool = False,
    ) -> None:
        self.name = name
        self.args_decoder = msgspec.msgpack.Decoder(args_type)
        self.result_decoder: msgspec.msgpack.Decoder[R] = msgspec.msgpack.Decoder(result_type)
        self.call = call
        self.no_reply = no_reply
        self.alone = alone


MARKETS: Method[NoArgs, dict[str, Market]] = Method(
    "markets", NoArgs, dict[str, Market], lambda ex, _: ex.markets()
)
ORDER_BOOK: Method[BookArgs, OrderBook] = Method(
    "order_book", BookArgs, OrderBook, lambda ex, a: ex.order_book(a.symbol, a.depth)
)
BALANCES: Method[NoArgs, dict[str, Balance]] = Method(
    "balances", NoArgs, dict[str, Balance], lambda ex, _: ex.balances()
)
CREATE_ORDER: Method[OrderRequest, OrderStatus] = Method(
    "create_order",
    OrderRequest,
    OrderStatus,
    lambda ex, r: ex.create_order(r),
    OutcomeUnknown,
    alone=True,
)
CANCEL_ORDER: Method[OrderIdArgs, OrderStatus] = Method(
    "cancel_order",
    OrderIdArgs,
    OrderStatus,
    lambda ex, a: ex.cancel_order(a.symbol, a.order_id),
    alone=True,
)
FETCH_ORDER: Method[OrderIdArgs, OrderStatus] = Method(
    "fetch_order", OrderIdArgs, OrderStatus, lambda ex, a: ex.fetch_order(a.symbol, a.order_id)
)
FETCH_BY_CLIENT_ID: Method[ClientIdArgs, OrderStatus | None] = Method(
    "fetch_order_by_client_id",
    ClientIdArgs,
    OrderStatus | None,
    lambda ex, a: ex.fetch_order_by_client_id(a.symbol, a.client_order_id),
)
OPEN_ORDERS: Method[OpenOrdersArgs, list[OrderStatus]] = Method(
    "open_orders", OpenOrdersArgs, list[OrderStatus], lambda ex, a: ex.open_orders(a.symbol)
)
FILLS_SINCE: Method[FillsArgs, list[Fill]] = Method(
    "fills_since", FillsArgs, list[Fill], lambda ex, a: ex.fills_since(a.symbol, a.since)
)
POSITIONS: Method[PositionsArgs, list[Position]] = Method(
    "positions", PositionsArgs, list[Position], lambda ex, a: ex.positions(a.symbols)
)
SET_LEVERAGE: Method[LeverageArgs, None] = Method(
    "set_leverage", LeverageArgs, None, lambda ex, a: ex.set_leverage(a.symbol, a.leverage)
)

METHODS: dict[str, Method[Any, Any]] = {
    method.name: method
    for method in (
        MARKETS,
        ORDER_BOOK,
        BALANCES,
        CREATE_ORDER,
        CANCEL_ORDER,
        FETCH_ORDER,
        FETCH_BY_CLIENT_ID,
        OPEN_ORDERS,
        FILLS_SINCE,
        POSITIONS,
        SET_LEVERAGE,
    )
}

_ERROR_TYPES: dict[str, type[ExchangeError]] = {
    error.__name__: error
    for error in (
        ExchangeError,
        Retryable,
        OutcomeUnknown,
        Fatal,
        InsufficientFunds,
        InvalidOrder,
        AuthenticationFailed,
        OrderNotFound,
    )
}

# A request whose `args` are several `Call`s, run in order; its result is a `Reply` per call.
BATCH = "batch"

encode = msgspec.msgpack.Encoder().encode
envelope_decoder = msgspec.msgpack.Decoder(Envelope)
reply_decoder = msgspec.msgpack.Decoder(Reply)
calls_decoder = msgspec.msgpack.Decoder(list[Call])
replies_decoder = msgspec.msgpack.Decoder(list[Reply])


def error_reply(error: ExchangeError) -> Reply:
    """The reply for a port error: the nearest class the client knows, and the message."""
    known = next(kind for kind in type(error).__mro__ if _ERROR_TYPES.get(kind.__name__) is kind)
    return Reply(error=known.__name__, message=str(error))


def unknown_method(name: str) -> Reply:
    """The host's answer to a method it does not have, worded as every version words it: a
    client tells a host older than `BATCH` by it (`refuses_batch`)."""
    return error_reply(
        Fatal(
            f"The paper host has no method {name!r}; run one signalgate version in every process."
        )
    )


def refuses_batch(reply: Reply) -> bool:
    """The host is older than `BATCH`: it refused the request whole, running none of its calls."""
    refusal = unknown_method(BATCH)
    return (reply.error, reply.message) == (refusal.error, refusal.message)


def error_from(reply: Reply) -> ExchangeError:
    """The port error a reply carries (an unknown name degrades to ExchangeError)."""
    kind = _ERROR_TYPES.get(reply.error or "", ExchangeError)
    return kind(reply.message)
