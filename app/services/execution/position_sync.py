"""Position drift on TradingView strategy alerts (`POSITION_SYNC`): before an account's signal
runs, its position in the symbol (its open brackets, netted) is compared with where the alert says
the strategy stood before this order. A drift is recorded as a `drift` step on the signal's
lineage (counted in `/metrics`) and logged; `flag` then executes as asked, `align` sizes an entry
so that the account ends where the strategy is (`aligned_entry`).

Align needs the alert's own quantity, in base units: an account that sizes every entry its own
way, or an alert sized in quote or percent, is executed as asked, and the lineage says why.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Protocol

import msgspec

from app.domain.orders import Side
from app.domain.position_sync import PositionSync, aligned_entry, drift
from app.domain.signals import QtyMode, SignalStatus
from app.domain.sizing import number_text
from app.ports.execution import PendingSignal
from app.services.execution.context import ExecutionContext

log = logging.getLogger("signalgate.execution")


class Enter(Protocol):
    def __call__(
        self, pending: PendingSignal, side: Side, *, checked_policy: bool = False
    ) -> Awaitable[None]: ...


class PositionSyncer:
    def __init__(self, ctx: ExecutionContext) -> None:
        self._ctx = ctx

    def held(self, pending: PendingSignal) -> Decimal:
        """The account's position in the signal's symbol: its open brackets, long above 0."""
        signal = pending.signal
        brackets = self._ctx.store.open_brackets(signal.account, signal.symbol)
        return sum((b.position if b.side is Side.BUY else -b.position for b in brackets),
                   Decimal(0))  # fmt: skip

    def flag(self, pending: PendingSignal) -> Decimal | None:
        """Record a drift of the signal's account from its strategy, if any: the account's
        position when it drifted, else None (the alert does not say, or it has not)."""
        said = pending.signal.strategy_position
        if said is None or said.before is None:
            return None
        held = self.held(pending)
        if (why := drift(said, held)) is None:
            return None
        signal = pending.signal
        policy = self._ctx.policy.position_sync
        self._ctx.record(pending.id, "drift", f"{why} (POSITION_SYNC={policy})",
                         held=str(held), before=said.before, after=said.after,
                         size=None if said.size is None else str(said.size))  # fmt: skip
        log.warning("signal %s: account %s drifted from strategy %s on %s: %s", pending.id,
                    signal.account, signal.strategy, signal.symbol, why)  # fmt: skip
        return held

    async def enter(
        self,
        pending: PendingSignal,
        side: Side,
        enter: Enter,
        flatten: Callable[[PendingSignal, Side], Awaitable[bool]],
    ) -> None:
        """An entry: as asked, or (align, after a drift) sized to where the strategy is."""
        held = self.flag(pending)
        if held is None or self._ctx.policy.position_sync is not PositionSync.ALIGN:
            return await enter(pending, side)
        signal, said = pending.signal, pending.signal.strategy_position
        assert said is not None
        own = self._ctx.rules(signal.account).own_sizing
        if own.qty_mode is not None or signal.qty_mode is not QtyMode.BASE:
            why = f"account {signal.account} sizes its entries its own way" if own.qty_mode else (
                f"the alert is sized in {signal.qty_mode.value}")  # fmt: skip
            return await self._as_asked(pending, side, enter, why)
        aligned = aligned_entry(said, side is Side.BUY, held, own.multiplier)
        if isinstance(aligned, str):
            return await self._as_asked(pending, side, enter, aligned)
        if not aligned.quantity:
            self._ctx.record(pending.id, "align", aligned.detail, SignalStatus.EXECUTED)
            return None
        self._ctx.record(pending.id, "align", aligned.detail, quantity=str(aligned.quantity))
        if aligned.flatten and not await flatten(pending, side.opposite):
            return None
        quantity = msgspec.structs.replace(signal, quantity=aligned.quantity)
        return await enter(msgspec.structs.replace(pending, signal=quantity), side,
                           checked_policy=True)  # fmt: skip

    async def _as_asked(self, pending: PendingSignal, side: Side, enter: Enter, why: str) -> None:
        quantity = pending.signal.quantity
        asked = "" if quantity is None else f" ({number_text(quantity)})"
        self._ctx.record(pending.id, "align", f"not aligned: {why}; executed as asked{asked}")
        return await enter(pending, side)
