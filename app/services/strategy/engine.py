"""The strategy engine: ticks in, signals out through `Intake.submit` -- the same threshold,
dedupe, risk gate, routing and brackets as a TradingView alert.

Each tick goes to every enabled strategy for its symbol. A strategy's proposal becomes a
`Signal` with `source=strategy:<name>`, its confidence, and its TP/SL as prices. A gap in a
symbol's ticks (a feed outage, a reconnect) resets that symbol's strategies, which then warm up
again before they emit: a reconnect never releases a burst of stale signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Protocol

from app.domain.market import Tick
from app.domain.signals import Action, Signal, StopKind, StopLoss, TakeProfit
from app.domain.strategy import Proposal, Strategy
from app.ports.exchange import MarketData
from app.services.intake import Intake

log = logging.getLogger("signalgate.strategy")

# outcomes after which an entry will not become a position (a backtest knows the executor's too)
_NOT_TAKEN = frozenset(
    {"filtered", "stale", "duplicate", "rate_limited", "unavailable", "denied", "failed"}
)
_ACTIONS = {"buy": Action.BUY, "sell": Action.SELL, "close": Action.CLOSE}


class Submit(Protocol):
    async def __call__(self, signal: Signal) -> str: ...


class StrategyEngine:
    def __init__(
        self,
        strategies: Mapping[str, Sequence[Strategy]],
        submit: Submit,
        *,
        gap: timedelta = timedelta(seconds=30),
        price_places: int = 8,
    ) -> None:
        """
        Args:
            strategies: the strategies enabled for each symbol.
            submit: keeps a signal (the intake in production); returns its outcome's name.
            gap: a silence longer than this resets the symbol's strategies.
        """
        self._strategies = strategies
        self._submit = submit
        self._gap = gap
        self._quantum = Decimal(1).scaleb(-price_places)
        self._last_at: dict[str, datetime] = {}
        self.submitted: dict[str, int] = {}  # outcome -> count, for the logs and tests

    async def on_tick(self, tick: Tick) -> list[Signal]:
        """Run the symbol's strategies on one tick; submit and return what they propose."""
        strategies = self._strategies.get(tick.symbol, ())
        last = self._last_at.get(tick.symbol)
        self._last_at[tick.symbol] = tick.at
        if last is not None and tick.at - last > self._gap:
            log.info("strategy: %s was silent for %s; warming up again", tick.symbol,
                     tick.at - last)  # fmt: skip
            for strategy in strategies:
                strategy.reset(tick.symbol)
        price = float(tick.price)
        signals = []
        for strategy in strategies:
            proposal = strategy.on_price(tick.symbol, price, tick.at)
            if proposal is None:
                continue
            signal = self.signal_of(strategy.name, tick, proposal)
            outcome = await self._submit(signal)
            self.submitted[outcome] = self.submitted.get(outcome, 0) + 1
            log.info("strategy %s: %s %s at %s (confidence %.2f, %s): %s", strategy.name,
                     proposal.side, tick.symbol, tick.price, proposal.confidence,
                     proposal.reason, outcome)  # fmt: skip
            if proposal.side != "close" and outcome in _NOT_TAKEN:
                missed = getattr(strategy, "missed", None)
                if missed is not None:
                    missed(tick.symbol)  # e.g. no exit will follow an entry that was not taken
            signals.append(signal)
        return signals

    def signal_of(self, name: str, tick: Tick, proposal: Proposal) -> Signal:
        action = _ACTIONS[proposal.side]
        entry = action is not Action.CLOSE
        return Signal(
            symbol=tick.symbol,
            action=action,
            source=f"strategy:{name}",
            ticker=tick.symbol,
            strategy=name,
            price=tick.price,
            take_profits=(
                (TakeProfit(price=self._decimal(proposal.take_profit)),)
                if entry and proposal.take_profit is not None
                else ()
            ),
            stop_loss=(
                StopLoss(StopKind.PRICE, self._decimal(proposal.stop_loss))
                if entry and proposal.stop_loss is not None
                else None
            ),
            confidence=min(max(proposal.confidence, 0.0), 1.0),
            fired_at=tick.at,
            comment=proposal.reason[:200],
        )

    def _decimal(self, value: float) -> Decimal:
        return Decimal(repr(value)).quantize(self._quantum, ROUND_HALF_EVEN)

    async def run(self, feed: MarketData, stop: asyncio.Event) -> None:
        """Until `stop`: every tick of the feed through `on_tick`."""
        consuming = asyncio.create_task(self._consume(feed))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({consuming, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in (consuming, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _consume(self, feed: MarketData) -> None:
        """A failing feed is opened again with a backoff (the gap it leaves resets the
        strategies); a feed that ends ends the run."""
        backoff = 0.5
        while True:
            try:
                async for tick in feed.ticks():
                    backoff = 0.5
                    await self.on_tick(tick)
            except Exception:
                log.exception("strategy: the market data failed; reopening in %.1f s", backoff)
            else:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)


def submit_through(intake: Intake) -> Submit:
    """`Intake.submit` as the engine's `submit`: the same screening as a webhook alert."""

    async def submit(signal: Signal) -> str:
        return (await intake.submit(signal, dialect="strategy")).status

    return submit
