from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest
from redis._parsers.encoders import Encoder
from redis.connection import PythonRespSerializer

from app.adapters.paper import wire
from app.adapters.paper.wire import (
    CREATE_ORDER,
    FETCH_BY_CLIENT_ID,
    FILLS_SINCE,
    Envelope,
    FillsArgs,
    Reply,
    encode,
    envelope_decoder,
    error_from,
    error_reply,
    reply_decoder,
)
from app.domain.orders import OrderKind, OrderRequest, OrderState, OrderStatus, Side
from app.ports.errors import (
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    Retryable,
)

REQUEST = OrderRequest(
    "sgA", "BTC/USDT", Side.BUY, OrderKind.LIMIT, Decimal("0.00012345"), Decimal("65000.01")
)


def test_an_envelope_keeps_its_arguments_exact() -> None:
    envelope = Envelope("id1", "paper", "create_order", msgspec.Raw(encode(REQUEST)), 1.5)
    decoded = envelope_decoder.decode(encode(envelope))

    assert (decoded.id, decoded.venue, decoded.method, decoded.deadline) == (
        "id1",
        "paper",
        "create_order",
        1.5,
    )
    assert CREATE_ORDER.args_decoder.decode(decoded.args) == REQUEST


def test_results_keep_decimals_and_aware_times() -> None:
    status = OrderStatus(
        "7",
        "sgA",
        "BTC/USDT",
        Side.BUY,
        OrderKind.LIMIT,
        OrderState.ACCEPTED,
        Decimal("0.10000000"),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    reply = reply_decoder.decode(encode(Reply(result=msgspec.Raw(encode(status)))))
    assert reply.error is None
    got = FETCH_BY_CLIENT_ID.result_decoder.decode(reply.result)
    assert got == status
    assert str(got.amount) == "0.10000000"  # not even the trailing zeros are lost
    since = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert FILLS_SINCE.args_decoder.decode(encode(FillsArgs("BTC/USDT", since))).since == since


def test_a_none_result_travels() -> None:
    reply = reply_decoder.decode(encode(Reply(result=msgspec.Raw(encode(None)))))
    assert FETCH_BY_CLIENT_ID.result_decoder.decode(reply.result) is None


@pytest.mark.parametrize(
    "error", [InsufficientFunds, InvalidOrder, OrderNotFound, OutcomeUnknown, Retryable]
)
def test_port_errors_come_back_as_the_same_type_and_message(error: type[ExchangeError]) -> None:
    reply = reply_decoder.decode(encode(error_reply(error("what the venue said"))))
    back = error_from(reply)
    assert type(back) is error
    assert str(back) == "what the venue said"


def test_an_error_subclass_travels_as_its_nearest_port_type() -> None:
    class NoSuchPair(InvalidOrder):
        pass

    assert type(error_from(error_reply(NoSuchPair("no ETH/XYZ")))) is InvalidOrder
    assert type(error_from(Reply(error="SomethingNew", message="?"))) is ExchangeError


@pytest.mark.parametrize(
    "parts",
    [
        (b"RPUSH", b"signalgate:paper:requests", b"\x93\xa1a\r\n\x00\xc0"),
        (b"BLPOP", b"signalgate:paper:reply:0f", b"5"),
        (b"LPOP", b"k", b"256"),
        (b"EXPIRE", b"", b"10"),
    ],
)
def test_a_command_is_packed_as_redis_py_packs_it(parts: tuple[bytes, ...]) -> None:
    encoder = Encoder("utf-8", "strict", decode_responses=False)
    packed = b"".join(PythonRespSerializer(6000, encoder.encode).pack(*parts))

    assert wire.command(*parts) == packed


def test_a_host_older_than_batches_is_told_by_its_own_words() -> None:
    """The refusal of a monitor released before batches, word for word: rewording
    `unknown_method` would make a new worker fail its calls on such a host again."""
    older = Reply(
        error="Fatal",
        message="The paper host has no method 'batch'; run one signalgate version in every"
        " process.",
    )

    assert wire.refuses_batch(older)
    assert not wire.refuses_batch(wire.unknown_method("positions_v2"))
    assert not wire.refuses_batch(Reply(error="Fatal", message="The paper host has no venue 'x'."))
