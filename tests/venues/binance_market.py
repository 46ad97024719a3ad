"""Binance's public market streams, for the fakes of tests/venues/binance.py (spot) and
tests/venues/binance_usdm.py (USD-M), served by tests/venues/streams.py.

As ccxt 4.5.90 `pro/binance.py` asks for them: a connection to `<ws>/N` (spot `/ws/N`, USD-M
`/public/ws/N`: ccxt's `get_ws_url` for depth, one connection per subscription, N its index),
then `{"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1}`, answered
`{"result": null, "id": 1}` (Binance docs: WebSocket Streams "Live Subscribing").

`<symbol>@depth@100ms`: diff updates only. ccxt reads the snapshot over REST (`/api/v3/depth`,
`/fapi/v1/depth`, whose `lastUpdateId` counts the book's moves: `FakeVenue.book_ids`), keeps
the updates that arrived meanwhile and applies those after the snapshot; each later update must
follow the one before (spot: `U` == previous `u` + 1; USD-M: `pu` == previous `u`), or ccxt
raises a ChecksumError and the watch must start again (Binance docs: "How to manage a local
order book correctly"). A level of quantity 0 is removed.

`<symbol>@ticker`: the 24 h ticker (`24hrTicker`), pushed at each move of the book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.venues.core import Book, Json, MarketSpec, Order, now_ms


class MarketVenue(Protocol):
    markets: dict[str, MarketSpec]
    book_ids: dict[str, int]

    def depth_levels(self, symbol: str, book: Book) -> tuple[list[list[str]], ...]: ...


def text(value: Any) -> str:
    from tests.venues.binance import text as binance_text  # noqa: PLC0415 - binance imports this

    return binance_text(value)


@dataclass
class MarketStream:
    """One connection to the venue's market streams: what it subscribed to."""

    venue: MarketVenue
    futures: bool
    streams: set[str] = field(default_factory=set)

    def answer(self, message: Json) -> list[Json]:
        assert isinstance(message, dict)
        request_id, method = message.get("id"), message.get("method")
        params = [str(p) for p in message.get("params") or []]
        if method == "SUBSCRIBE":
            self.streams.update(params)
        elif method == "UNSUBSCRIBE":
            self.streams.difference_update(params)
        else:
            return [{"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"},
                     "id": request_id}]  # fmt: skip
        return [{"result": None, "id": request_id}]

    def events(self, order: Order) -> list[Json]:
        return []  # no account events on the market streams

    def book_events(self, symbol: str, before: Book, after: Book) -> list[Json]:
        """The events of one move of `symbol`'s book, from `before` to `after`."""
        name = symbol.lower()
        found: list[Json] = []
        if f"{name}@depth@100ms" in self.streams or f"{name}@depth" in self.streams:
            found.append(self._depth_update(symbol, before, after))
        if f"{name}@ticker" in self.streams:
            found.append(self._ticker(symbol, after))
        return found

    def _depth_update(self, symbol: str, before: Book, after: Book) -> Json:
        update_id, now = self.venue.book_ids[symbol], now_ms()
        old_bids, old_asks = self.venue.depth_levels(symbol, before)
        bids, asks = self.venue.depth_levels(symbol, after)
        event: dict[str, Any] = {
            "e": "depthUpdate", "E": now, "s": symbol, "U": update_id, "u": update_id,
            "b": _diff(old_bids, bids), "a": _diff(old_asks, asks),
        }  # fmt: skip
        if self.futures:
            event.update(T=now, pu=update_id - 1)
        return event

    def _ticker(self, symbol: str, book: Book) -> Json:
        bid, ask = book
        last, now = (bid + ask) / 2, now_ms()
        return {
            "e": "24hrTicker", "E": now, "s": symbol, "p": "0", "P": "0", "w": text(last),
            "x": text(last), "c": text(last), "Q": "0.1", "b": text(bid), "B": "1.00000",
            "a": text(ask), "A": "1.00000", "o": text(last), "h": text(ask), "l": text(bid),
            "v": "123.45000", "q": "6172500.00", "O": now - 86_400_000, "C": now, "F": 1,
            "L": 100, "n": 100,
        }  # fmt: skip


def _diff(before: list[list[str]], after: list[list[str]]) -> list[list[str]]:
    """The levels that changed: every level now shown, and quantity 0 for each one gone."""
    shown = {price for price, _ in after}
    return [*after, *([price, "0"] for price, _ in before if price not in shown)]
