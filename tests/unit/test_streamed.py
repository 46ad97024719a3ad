"""The monitor's `share_books` follows the symbols the workers asked for lately, and lets go of
those it started for them once nobody asks any more (never of one the monitor follows itself)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from app.domain.market import OrderBook
from app.services.streamed import share_books


class Books:
    """A `BookStream` that follows what it is told (no venue, no book)."""

    def __init__(self, followed: Iterable[str] = ()) -> None:
        self.followed = set(followed)
        self.unwatched: list[str] = []

    def watch(self, symbol: str) -> bool:
        if symbol in self.followed:
            return False
        self.followed.add(symbol)
        return True

    def unwatch(self, symbol: str) -> None:
        self.unwatched.append(symbol)
        self.followed.discard(symbol)

    def fresh(self, symbol: str, depth: int, max_age_seconds: float) -> OrderBook | None:
        return None

    def age(self, symbol: str) -> float | None:
        return None

    async def changed(self, wait_seconds: float) -> set[str]:
        await asyncio.sleep(0)
        return set()

    async def close(self) -> None:
        pass


class Asked:
    """`SharedBooks` whose asked-for symbols the test sets."""

    def __init__(self) -> None:
        self.asked: set[str] = set()
        self.within: set[float] = set()

    async def publish(
        self, venue: str, books: list[tuple[OrderBook, float]], depth: int, max_age_seconds: float
    ) -> None:
        pass

    async def read(
        self, venue: str, symbol: str, depth: int, max_age_seconds: float
    ) -> OrderBook | None:
        return None

    async def wanted(self, venue: str, within_seconds: float) -> set[str]:
        self.within.add(within_seconds)
        return set(self.asked)


async def settle(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition did not come true")


def test_the_symbols_asked_for_are_followed_until_nobody_asks_for_them() -> None:
    books, shared = Books(followed={"ETH/USDT"}), Asked()  # ETH/USDT: the monitor's own

    async def run() -> None:
        stop = asyncio.Event()
        sharing = asyncio.create_task(share_books("binance", books, shared, stop, depth=5,
                                                  max_age_seconds=2.0, followed_seconds=600.0,
                                                  asked_every_seconds=0.0))  # fmt: skip
        shared.asked = {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
        await settle(lambda: {"BTC/USDT", "SOL/USDT"} <= books.followed)
        shared.asked = {"SOL/USDT"}  # nobody read BTC/USDT and ETH/USDT for 600 s
        await settle(lambda: "BTC/USDT" not in books.followed)
        shared.asked = {"BTC/USDT", "SOL/USDT"}  # asked again: followed again
        await settle(lambda: "BTC/USDT" in books.followed)
        stop.set()
        await sharing

    asyncio.run(run())

    assert books.unwatched == ["BTC/USDT"]  # never the monitor's own ETH/USDT
    assert books.followed == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
    assert shared.within == {600.0}
