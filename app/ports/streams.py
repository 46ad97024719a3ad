"""A venue's streams as the services see them: its private order updates (the bracket monitor),
its public order books (quotes without a request while they are fresh), and those books shared
with the workers (`SharedBooks`: the monitor publishes, a worker reads).

An update only says which order changed: the monitor reads the order back from the venue the way
it always does (the stream says "look now"; nothing about money depends on what it carried).
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from app.domain.market import OrderBook


class OrderUpdate(msgspec.Struct, frozen=True):
    """The venue said this order changed (either id may be missing)."""

    symbol: str | None = None
    order_id: str | None = None
    client_order_id: str | None = None


class OrderStream(Protocol):
    """One venue's private order updates over its websocket."""

    async def subscribe(self) -> None:
        """Connect (again) and subscribe: once it returns, every later change of an order is
        told by `updates`.

        Raises:
            ExchangeError: the venue could not be reached or refused the keys.
        """
        ...

    async def updates(self) -> list[OrderUpdate]:
        """The next updates, waiting for them.

        Raises:
            ExchangeError: the stream dropped; `subscribe` again (updates may have been lost).
        """
        ...

    async def close(self) -> None: ...


class BookStream(Protocol):
    """One venue's public order books, kept current over its websocket by the adapter."""

    def watch(self, symbol: str) -> bool:
        """Follow `symbol`'s book from now on; False (and nothing done) when it is followed
        already."""
        ...

    def unwatch(self, symbol: str) -> None:
        """Stop following `symbol`'s book (its book is never a price again until watched); a
        no-op when it is not followed."""
        ...

    def fresh(self, symbol: str, depth: int, max_age_seconds: float) -> OrderBook | None:
        """`symbol`'s streamed book (`depth` levels a side) if the stream updated it within
        `max_age_seconds`, else None: a stream that dropped or went quiet is never a price."""
        ...

    def age(self, symbol: str) -> float | None:
        """Seconds since the stream last updated `symbol`'s book (None: no book)."""
        ...

    async def changed(self, wait_seconds: float) -> set[str]:
        """The symbols whose book was updated since the last call, waiting up to `wait_seconds`
        for one (an empty set when none came)."""
        ...

    async def close(self) -> None: ...


class SharedBooks(Protocol):
    """Streamed order books shared between processes, each kept only while it is fresh."""

    async def publish(self, venue: str, books: list[tuple[OrderBook, float]], depth: int,
                      max_age_seconds: float) -> None:  # fmt: skip
        """Share each `(book, age in seconds)` of `venue` (`depth`: the levels asked of the
        stream) until it is `max_age_seconds` old."""
        ...

    async def read(
        self, venue: str, symbol: str, depth: int, max_age_seconds: float
    ) -> OrderBook | None:
        """`venue`'s shared book of `symbol` with `depth` levels a side, if one was published
        deep enough and is at most `max_age_seconds` old; else None. Either way the symbol is
        asked for, now (`wanted`)."""
        ...

    async def wanted(self, venue: str, within_seconds: float) -> set[str]:
        """The symbols of `venue` a reader asked for within the last `within_seconds`; those
        asked for only before are forgotten."""
        ...
