"""A paper venue quoting several symbols whose books a test moves, a clock it moves, the executor
and the bracket monitor over the in-memory store: execution tests that need prices of more than
one symbol, or time that passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec

from app.domain.execution_policy import ExecutionPolicy
from app.domain.market import Market
from app.domain.orders import OrderRequest, OrderStatus
from app.domain.paper.venue import PaperVenue
from app.domain.risk_values import RiskLimits
from app.domain.signals import Action, QtyMode, Signal, StopKind, StopLoss, TakeProfit
from app.domain.sizing import SizingPolicy
from app.ports.execution import NoLocks
from app.services.brackets.monitor import BracketMonitor
from app.services.execution.executor import Executor
from tests.fakes_execution import MemoryExecutionStore, OnRecordFirst
from tests.paper_helpers import book

D = Decimal
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
BTC = Market("BTC/USDT", "BTC", "USDT", amount_step=D("0.0001"), min_amount=D("0.0001"),
             min_cost=D(5))  # fmt: skip
ETH = msgspec.structs.replace(BTC, symbol="ETH/USDT", base="ETH")
SOL = msgspec.structs.replace(BTC, symbol="SOL/USDT", base="SOL")
ETH_BTC = Market("ETH/BTC", "ETH", "BTC", amount_step=D("0.001"), min_amount=D("0.001"),
                 price_step=D("0.00001"), min_cost=D("0.0001"))  # fmt: skip
ETH_EUR = msgspec.structs.replace(BTC, symbol="ETH/EUR", base="ETH", quote="EUR")
MARKETS = (BTC, ETH, SOL, ETH_BTC, ETH_EUR)
BOOKS = {
    "BTC/USDT": ("99990x1", "100000x1"),
    "ETH/USDT": ("2999x10", "3000x10"),
    "SOL/USDT": ("199x100", "200x100"),
    "ETH/BTC": ("0.02999x10", "0.03000x10"),
    "ETH/EUR": ("2799x10", "2800x10"),
}
BALANCES = {"USDT": D(50_000), "BTC": D(1), "EUR": D(10_000)}


class Logged(OnRecordFirst):
    """The paper venue, keeping what it was asked to create and cancel, in order."""

    log: list[tuple[str, str]]

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        self.log.append(("create", request.client_order_id))
        return await super().create_order(request)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        order = self.venue.order(order_id)
        self.log.append(("cancel", order.client_order_id or order_id))
        return await super().cancel_order(symbol, order_id)


def alert(symbol: str = "BTC/USDT", **kw: object) -> Signal:
    """A 500 USDT buy with a take-profit 10% and a stop-loss 5% from 100,000."""
    values: dict[str, object] = {
        "symbol": symbol,
        "action": Action.BUY,
        "source": "tradingview:native",
        "quantity": D(500),
        "qty_mode": QtyMode.QUOTE,
        "take_profits": (TakeProfit(price=D(110_000)),),
        "stop_loss": StopLoss(StopKind.PRICE, D(95_000)),
    }
    values.update(kw)
    return Signal(**values)  # type: ignore[arg-type]


def plain(symbol: str, **kw: object) -> Signal:
    """An entry without targets (in any symbol), 500 of its quote by default."""
    return alert(symbol, **{"take_profits": (), "stop_loss": None, **kw})


class Desk:
    def __init__(
        self,
        limits: RiskLimits | None = None,
        policy: ExecutionPolicy | None = None,
        markets: tuple[Market, ...] = MARKETS,
        balances: dict[str, Decimal] | None = None,
        venue_kind: type[Logged] = Logged,
    ) -> None:
        self.now = NOW
        self.books = {s: book(*BOOKS[s], symbol=s) for s in (m.symbol for m in markets)}
        self.store = MemoryExecutionStore()
        start = BALANCES if balances is None else balances
        venue = venue_kind(PaperVenue("a", markets, start), self.books.__getitem__, self.clock)
        venue.store, venue.log = self.store, []
        self.venue = venue
        self.executor = Executor(
            store=self.store, venues={"a": venue}, modes={"a": "paper"}, clock=self.clock,
            locks=NoLocks(), limits=limits or RiskLimits(), sizing=SizingPolicy(), policy=policy,
        )  # fmt: skip
        self.monitor = BracketMonitor(
            store=self.store, venues={"a": venue}, driver=self.executor.driver, locks=NoLocks()
        )
        self.ids = (f"01JX5Z3K8Q4W2N7R9T1V3B5C{n:02d}" for n in range(100))

    def clock(self) -> datetime:
        return self.now

    async def send(self, signal: Signal) -> str:
        signal_id = next(self.ids)
        self.store.add(signal_id, signal, self.now)
        await self.executor.execute(signal_id)
        return signal_id

    def move(self, symbol: str, bids: str, asks: str) -> None:
        self.books[symbol] = book(bids, asks, symbol=symbol)

    def later(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def decision(self, signal_id: str) -> str:
        """The detail of the signal's last decision."""
        steps = [s for s in self.store.lineage[signal_id] if s.step == "decision"]
        return steps[-1].detail or ""

    def check(self, signal_id: str, name: str) -> dict[str, object]:
        """One check of the signal's last decision."""
        steps = [s for s in self.store.lineage[signal_id] if s.step == "decision"]
        data = steps[-1].data or {}
        (found,) = [c for c in data["checks"] if c["name"] == name]
        return dict(found)


__all__ = ["NOW", "Desk", "alert", "plain"]
