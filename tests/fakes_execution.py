"""An in-memory `ExecutionStore` for unit tests of execution and the bracket monitor."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.domain.brackets import FINAL, Bracket
from app.domain.orders import Leg
from app.domain.risk import TradingState
from app.domain.signals import PENDING, Signal, SignalStatus
from app.ports_execution import (
    AccountState,
    Activity,
    Holding,
    OrderQuery,
    OrderView,
    PendingSignal,
    sum_holdings,
)


class Step:
    def __init__(self, at: datetime, step: str, detail: str | None, data: Any) -> None:
        self.at, self.step, self.detail, self.data = at, step, detail, data

    def __repr__(self) -> str:
        return f"Step({self.step!r}, {self.detail!r})"


class MemoryExecutionStore:
    def __init__(self) -> None:
        self.rows: dict[str, PendingSignal] = {}
        self.lineage: dict[str, list[Step]] = {}
        self.brackets: dict[str, Bracket] = {}
        self.order_times: dict[tuple[str, str], datetime] = {}
        self.versions: dict[str, int] = {}
        self.saves = 0
        self.flushes = 0
        self.state = TradingState.ACTIVE

    def add(self, signal_id: str, signal: Signal, at: datetime) -> None:
        self.rows[signal_id] = PendingSignal(signal_id, at, SignalStatus.QUEUED, signal)

    def steps(self, signal_id: str) -> list[str]:
        return [s.step for s in self.lineage.get(signal_id, [])]

    def signal(self, signal_id: str) -> PendingSignal | None:
        return self.rows.get(signal_id)

    def signals(self, signal_ids: Sequence[str]) -> dict[str, PendingSignal]:
        return {i: self.rows[i] for i in signal_ids if i in self.rows}

    def pending(self, account: str, symbol: str, up_to: str) -> list[PendingSignal]:
        return sorted(
            (
                p
                for p in self.rows.values()
                if p.signal.account == account
                and p.signal.symbol == symbol
                and p.status in PENDING
                and p.id <= up_to
            ),
            key=lambda p: p.id,
        )

    def record(
        self,
        signal_id: str,
        at: datetime,
        step: str,
        detail: str | None = None,
        data: dict[str, Any] | None = None,
        *,
        status: SignalStatus | None = None,
    ) -> None:
        self.lineage.setdefault(signal_id, []).append(Step(at, step, detail, data))
        if status is not None and signal_id in self.rows:
            p = self.rows[signal_id]
            self.rows[signal_id] = PendingSignal(p.id, p.received_at, status, p.signal)

    def save_bracket(self, bracket: Bracket, at: datetime) -> None:
        for order in bracket.orders:
            self.order_times.setdefault((bracket.venue, order.client_order_id), at)
        self.brackets[bracket.id] = bracket
        self.saves += 1
        self.versions[bracket.id] = self.saves

    def flush(self) -> None:
        self.flushes += 1

    def bracket(self, bracket_id: str) -> Bracket | None:
        return self.brackets.get(bracket_id)

    def open_bracket_versions(self) -> dict[str, object]:
        return {b.id: self.versions[b.id] for b in self.open_brackets()}

    def brackets_by_id(self, bracket_ids: Sequence[str]) -> list[Bracket]:
        return [self.brackets[i] for i in sorted(bracket_ids)]

    def open_brackets(self, account: str | None = None, symbol: str | None = None) -> list[Bracket]:
        return [
            b
            for _, b in sorted(self.brackets.items())
            if b.state not in FINAL
            and (account is None or b.account == account)
            and (symbol is None or b.symbol == symbol)
        ]

    def holdings(self, account: str, symbol: str | None = None) -> list[Holding]:
        return sum_holdings(
            (b.venue, b.symbol, b.side.value, b.position, b.entry_price)
            for b in self.open_brackets(account, symbol)
        )

    def account_state(self, account: str, now: datetime) -> AccountState:
        return AccountState(self.holdings(account), self.activity(account, now), self.state)

    def activity(self, account: str, now: datetime) -> Activity:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        pnl = sum(
            (
                b.realized_pnl
                for b in self.brackets.values()
                if b.account == account and b.closed_at is not None and b.closed_at >= day
            ),
            Decimal(0),
        )
        recent = sum(1 for at in self.order_times.values() if at >= now - timedelta(minutes=1))
        stops = {
            b.symbol: now
            for b in self.brackets.values()
            for o in b.orders
            if o.leg is Leg.STOP_LOSS and o.filled > 0
        }
        return Activity(pnl, recent, stops)

    def trading_state(self) -> TradingState:
        return self.state

    def set_trading_state(self, state: TradingState, at: datetime, reason: str) -> None:
        self.state = state

    def orders(self, query: OrderQuery) -> list[OrderView]:
        raise NotImplementedError("the SQL store lists orders; unit tests read brackets")
