"""A venue's private stream of order updates, as the bracket monitor sees it.

An update only says which order changed: the monitor reads the order back from the venue the way
it always does (the stream says "look now"; nothing about money depends on what it carried).
"""

from __future__ import annotations

from typing import Protocol

import msgspec


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
