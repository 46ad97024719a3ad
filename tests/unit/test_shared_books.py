"""Which of a worker's venues read their books from the monitor's shared streamed copies: those
whose book stream the monitor runs (`<VENUE>_STREAMS` on, a price stream a test proves)."""

from __future__ import annotations

from typing import Any

from app.bootstrap.venues import shared_streamed, streamed_venue_names
from app.config.settings import load_settings
from app.services.streamed import SharedBookVenue

KEYS = {"API_KEY": "k-123", "API_SECRET": "s-456"}


def env(**streams: str) -> dict[str, str]:
    found = {"TRADING_MODE": "testnet", "VENUES": "paper,binance,bybit"}
    for name in ("BINANCE", "BYBIT"):
        found[f"{name}_MODE"] = "testnet"
        found.update({f"{name}_{key}": value for key, value in KEYS.items()})
    found.update({f"{name.upper()}_STREAMS": value for name, value in streams.items()})
    return found


class Venue:
    def __init__(self, name: str) -> None:
        self.name, self.capabilities = name, None


def test_the_venues_the_monitor_streams_read_the_shared_books() -> None:
    settings = load_settings(env())
    venues: dict[str, Any] = {name: Venue(name) for name in ("paper", "binance", "bybit")}
    shared: Any = object()

    wrapped = shared_streamed(settings, venues, shared)

    assert streamed_venue_names(settings) == {"binance"}
    assert isinstance(wrapped["binance"], SharedBookVenue)
    assert wrapped["binance"].venue is venues["binance"]
    assert wrapped["binance"].max_age_seconds == settings.market_data.stream_max_age_seconds
    assert (wrapped["paper"], wrapped["bybit"]) == (venues["paper"], venues["bybit"])


def test_streams_off_reads_the_venue() -> None:
    settings = load_settings(env(binance="off"))
    assert streamed_venue_names(settings) == set()
