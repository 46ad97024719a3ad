"""The leverage of an entry on a perpetual swap: the alert's `leverage`, else the venue's
`<VENUE>_LEVERAGE` (default 1). It is set on the venue before the entry, once per venue, symbol
and value (remembered for the process's life), and the router and the risk gate check the
margin at it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from app.domain.market import Market, MarketKind
from app.domain.signals import Signal
from app.ports.exchange import Exchange
from app.services.execution.views import VenueView

_ONE = Decimal(1)


@dataclass
class Leverages:
    defaults: Mapping[str, Decimal] = field(default_factory=dict)  # venue -> <VENUE>_LEVERAGE
    _set: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (venue, symbol) -> x

    def of(self, signal: Signal, venue: str) -> Decimal:
        return signal.leverage or self.defaults.get(venue, _ONE)

    def levered(self, signal: Signal, views: Sequence[VenueView]) -> list[VenueView]:
        """The views with each swap venue's quote at the leverage its entry would use."""
        return [
            msgspec.structs.replace(
                view, quote=msgspec.structs.replace(view.quote, leverage=self.of(signal, venue))
            )
            if (market := view.quote.market) is not None and market.kind is MarketKind.SWAP
            else view
            for view, venue in ((v, v.quote.venue) for v in views)
        ]

    async def ensure(self, name: str, venue: Exchange, market: Market, signal: Signal) -> None:
        """Set the entry's leverage on a swap venue unless this process already did."""
        if market.kind is not MarketKind.SWAP:
            return
        value = self.of(signal, name)
        if self._set.get((name, market.symbol)) == value:
            return
        await venue.set_leverage(market.symbol, value)
        self._set[(name, market.symbol)] = value
