"""What one reconciliation reads of a venue, and what signalgate's book says the venue holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import msgspec

from app.domain.brackets.bracket import Bracket
from app.domain.market import Market
from app.domain.orders import Side
from app.domain.reconciliation import Kind, key_of, signed
from app.ports.exchange import Exchange

_ZERO = Decimal(0)
Key = tuple[str, Kind]  # an asset (spot) or a swap symbol, and which of the two


class Reading(msgspec.Struct, frozen=True):
    """A venue's markets, positions (signed, by symbol) and balances (totals, by asset)."""

    markets: dict[str, Market]
    positions: dict[str, Decimal]
    balances: dict[str, Decimal]

    def held(self, key: Key) -> Decimal:
        name, kind = key
        source = self.positions if kind is Kind.POSITION else self.balances
        return source.get(name, _ZERO)


async def read_venue(venue: Exchange) -> Reading:
    """Markets, positions and balances, one request after the other.

    Raises:
        ExchangeError: the venue could not be read.
    """
    markets = await venue.markets()
    positions: dict[str, Decimal] = {}
    for position in await venue.positions():
        positions[position.symbol] = positions.get(position.symbol, _ZERO) + position.amount
    balances = {asset: balance.total for asset, balance in (await venue.balances()).items()}
    return Reading(markets, positions, balances)


def held_by_brackets(
    key: Key,
    markets: Mapping[str, Market],
    open_brackets: Iterable[Bracket],
    settled: Mapping[tuple[str, Side], Decimal],
) -> Decimal:
    """What signalgate's brackets hold of `key`, signed: every open bracket's position and what
    settled brackets left behind."""
    total = sum(
        (signed(b.side, b.position) for b in open_brackets if key_of(b.market) == key), _ZERO
    )
    for (symbol, side), amount in settled.items():
        market = markets.get(symbol)
        if market is not None and key_of(market) == key:
            total += signed(side, amount)
    return total


def keys_to_compare(
    markets: Mapping[str, Market], open_brackets: Iterable[Bracket], symbols: Iterable[str]
) -> dict[Key, list[Market]]:
    """The keys of `symbols` and of the open brackets' symbols, each with its markets (several
    spot symbols share a base asset); a bracket's own market stands in for one the venue no
    longer lists. Symbols neither listed nor held are left out."""
    own = {b.symbol: b.market for b in open_brackets}
    keys: dict[Key, list[Market]] = {}
    for symbol in sorted({*symbols, *own}):
        market = markets.get(symbol) or own.get(symbol)
        if market is not None:
            keys.setdefault(key_of(market), []).append(market)
    return keys


def involved(key: Key, open_brackets: Iterable[Bracket]) -> list[Bracket]:
    """The open brackets whose holdings count towards `key`."""
    return [b for b in open_brackets if key_of(b.market) == key]
