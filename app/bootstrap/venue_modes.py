"""The venues a stored connection may name, and the modes each trades in: data the web process
describes its API with at start, so nothing here loads SQL or a venue library."""

from __future__ import annotations

from collections.abc import Mapping

from app.adapters.ccxt.profiles import VENUES as CCXT_PROFILES
from app.config.venues import TradingMode
from app.domain.connections import PAPER

# the native adapters' venues (`bootstrap.venues.NATIVE_VENUES`, which loads them) and the modes
# each trades in: Pionex has no testnet
NATIVE_MODES: dict[str, tuple[str, ...]] = {"pionex": (TradingMode.LIVE.value,)}
_CCXT_MODES = (TradingMode.TESTNET.value, TradingMode.LIVE.value)
# the venues a stored connection may name, with their modes: paper, the native adapters, and the
# ccxt venues a road test proves (an unproven one is traded only through VENUES, on purpose)
VENUE_MODES: Mapping[str, tuple[str, ...]] = {
    PAPER: (PAPER,),
    **NATIVE_MODES,
    **{venue: _CCXT_MODES for venue, profile in sorted(CCXT_PROFILES.items()) if profile.proven},
}
