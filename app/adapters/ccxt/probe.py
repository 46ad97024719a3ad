"""`CcxtExchange.probe`: what a ccxt venue tells about its keys (trading and withdrawal
permissions, where its profile says how to ask), its clock and, for swaps, its position mode."""

from __future__ import annotations

from typing import Any

from app.adapters.ccxt.calls import VenueCalls
from app.adapters.ccxt.parsing import utc
from app.adapters.ccxt.profiles import VenueProfile
from app.domain.market import Market, MarketKind
from app.ports.exchange import Probe


async def probe(calls: VenueCalls, profile: VenueProfile, markets: dict[str, Market]) -> Probe:
    has: dict[str, Any] = calls.client.has
    server_time = utc(await calls.read("fetch_time")) if has.get("fetchTime") else None
    trading = withdrawals = hedged = None
    if (asked := profile.permissions) is not None:
        answer = await calls.read(asked.method)
        trading = any(bool(answer.get(field)) for field in asked.trading)
        withdrawals = bool(answer.get(asked.withdrawals))
    swaps = [m.symbol for m in markets.values() if m.kind is MarketKind.SWAP]
    if profile.swaps and swaps and has.get("fetchPositionMode"):
        mode = await calls.read("fetch_position_mode", swaps[0])
        hedged = bool(mode.get("hedged"))
    elif profile.swaps and swaps and profile.position_mode_in_positions:
        rows = await calls.read("fetch_positions", [swaps[0]])
        told = [row["hedged"] for row in rows if row.get("hedged") is not None]
        hedged = any(told) if told else None
    return Probe(server_time, trading, withdrawals, hedged)
