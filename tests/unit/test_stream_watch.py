"""An order stream that fails in any way leaves the monitor polling; it never ends the monitor."""

from __future__ import annotations

import asyncio

from app.bootstrap.venues import order_streams
from app.config.settings import load_settings
from app.ports.streams import OrderUpdate
from app.services.brackets.streams import StreamState, StreamTrust, StreamWatch


class Broken:
    """A stream whose library fails outside its own error classes (ccxt.pro raised KeyError
    'ws' for a venue whose REST URL was overridden)."""

    def __init__(self) -> None:
        self.tries = 0
        self.closed = False

    async def subscribe(self) -> None:
        self.tries += 1
        raise KeyError("ws")

    async def updates(self) -> list[OrderUpdate]:
        raise AssertionError("never subscribed")

    async def close(self) -> None:
        self.closed = True


def test_a_stream_failing_outside_the_exchange_errors_keeps_being_retried() -> None:
    async def run() -> tuple[Broken, StreamTrust]:
        stream, trust = Broken(), StreamTrust()
        watch = StreamWatch("binance", stream, trust, lambda *_: None, lambda: None,
                            backoff_seconds=0.01, jitter=lambda: 1.0)  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(watch.run(stop))

        async def three_tries() -> None:
            while stream.tries < 3 and not task.done():  # noqa: ASYNC110 - a fake's counter
                await asyncio.sleep(0.01)

        await asyncio.wait_for(three_tries(), 5)
        assert not task.done()  # the monitor's task goes on
        assert trust.states["binance"] is StreamState.DOWN  # polled every round meanwhile
        stop.set()
        await asyncio.wait_for(task, 5)
        return stream, trust

    stream, _ = asyncio.run(run())
    assert stream.closed


def test_a_venue_whose_rest_api_is_pointed_elsewhere_streams_only_when_told_where() -> None:
    base = {"VENUES": "binance", "TRADING_MODE": "testnet", "BINANCE_MODE": "testnet",
            "BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"}  # fmt: skip
    assert set(order_streams(load_settings(base))) == {"binance"}
    proxied = {**base, "BINANCE_API_URL": "http://127.0.0.1:9"}
    assert order_streams(load_settings(proxied)) == {}
    told = {**proxied, "BINANCE_STREAM_URL": "ws://127.0.0.1:9"}
    assert set(order_streams(load_settings(told))) == {"binance"}
    assert set(order_streams(load_settings({**proxied, "BINANCE_STREAMS": "on"}))) == {"binance"}
