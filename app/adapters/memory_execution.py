"""`ExecutionStore` in memory: what a backtest executes against (one process, no database).

It keeps what the risk gate reads incrementally -- open brackets, the realized P&L of each day by
quote currency, order times of the last minute, the last stop-loss fill per symbol -- so a long
replay costs the same per signal at its end as at its start. A save in a holder's batch is a
compare-and-swap, as in SQL (`ExecutionStore.batch`); nothing is kept back, so a refused save
raises at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from app.adapters.bracket_holders import NEW, fence_refuses, holder_of, holding, refusal
from app.domain.accounts import stricter
from app.domain.brackets.bracket import FINAL, Bracket
from app.domain.brackets.pnl import realized_so_far
from app.domain.orders import Leg, OrderState
from app.domain.reservations import RestingEntry
from app.domain.risk_values import TradingState
from app.domain.signals import PENDING, Signal, SignalStatus
from app.ports.execution import (
    AccountState,
    Activity,
    Fence,
    Holding,
    LineageStep,
    OrderQuery,
    OrderView,
    PendingSignal,
    SignalState,
    leg_number,
)


class MemoryExecutionStore:
    reads_together = False  # nothing to save: each read is a call

    def __init__(self) -> None:
        self.rows: dict[str, PendingSignal] = {}
        self._waiting: dict[tuple[str, str], dict[str, PendingSignal]] = {}  # pending, by key
        self.lineage: dict[str, list[LineageStep]] = {}
        self.brackets: dict[str, Bracket] = {}
        self.open: dict[str, Bracket] = {}
        self.versions: dict[str, int] = {}  # bracket id -> saves of it
        self.fences: dict[str, int] = {}  # bracket id -> fencing token of its last save
        self.saves = 0
        self.state = TradingState.ACTIVE
        self.account_states: dict[str, TradingState] = {}  # each account's own (halt, reduce)
        self._seen_orders: set[tuple[str, str]] = set()
        self._recent_orders: deque[datetime] = deque()
        self._pnl_by_day: dict[tuple[str, date], dict[str, Decimal]] = {}
        self._realized: dict[str, Decimal] = {}  # bracket id -> realized P&L as last saved
        self._stop_fills: dict[tuple[str, str], datetime] = {}  # (account, symbol) -> last
        self._stop_filled: dict[str, Decimal] = {}  # client order id -> amount seen filled

    def add(self, signal_id: str, signal: Signal, at: datetime) -> None:
        self._keep(PendingSignal(signal_id, at, SignalStatus.QUEUED, signal))

    def _keep(self, row: PendingSignal) -> None:
        self.rows[row.id] = row
        waiting = self._waiting.setdefault((row.signal.account, row.signal.symbol), {})
        if row.status in PENDING:
            waiting[row.id] = row
        else:
            waiting.pop(row.id, None)

    def steps(self, signal_id: str) -> list[str]:
        return [s.step for s in self.lineage.get(signal_id, [])]

    def signal(self, signal_id: str) -> PendingSignal | None:
        return self.rows.get(signal_id)

    def states(self, signal_ids: Sequence[str]) -> dict[str, SignalState]:
        rows = (self.rows[i] for i in signal_ids if i in self.rows)
        return {r.id: SignalState(r.id, r.signal.account, r.signal.symbol, r.status) for r in rows}

    def unit(self, unit_id: str) -> list[PendingSignal]:
        legs = (
            msgspec.structs.replace(p, started=p.id in self.brackets)
            for p in self.rows.values()
            if p.signal.link is not None and p.signal.link.unit == unit_id
        )
        return sorted(legs, key=leg_number)

    def pending(self, account: str, symbol: str, up_to: str) -> list[PendingSignal]:
        waiting = self._waiting.get((account, symbol), {})
        return sorted(
            (
                msgspec.structs.replace(p, started=p.id in self.brackets)
                for p in waiting.values()
                if p.id <= up_to
            ),
            key=lambda p: p.id,
        )

    def pending_and_account(
        self, account: str, symbol: str, up_to: str, now: datetime, reserved: Collection[str]
    ) -> tuple[list[PendingSignal], AccountState]:
        queue = self.pending(account, symbol, up_to)
        return queue, self.account_state(account, symbol, now, reserved)

    def record(self, step: LineageStep, *, status: SignalStatus | None = None) -> None:
        self.lineage.setdefault(step.signal_id, []).append(step)
        if status is not None and step.signal_id in self.rows:
            p = self.rows[step.signal_id]
            self._keep(PendingSignal(p.id, p.received_at, status, p.signal))

    def save_bracket(self, bracket: Bracket, at: datetime) -> None:
        self._compare_and_swap(bracket)
        for order in bracket.orders:
            key = (bracket.venue, order.client_order_id)
            if key not in self._seen_orders:
                self._seen_orders.add(key)
                if not order.replaces_stop:
                    self._recent_orders.append(at)
            if order.leg is Leg.STOP_LOSS and order.filled > self._stop_filled.get(
                order.client_order_id, Decimal(0)
            ):
                self._stop_filled[order.client_order_id] = order.filled
                self._stop_fills[bracket.account, bracket.symbol] = at
        realized = realized_so_far(bracket)
        if change := realized - self._realized.get(bracket.id, Decimal(0)):
            day = self._pnl_by_day.setdefault((bracket.account, at.date()), {})
            quote = bracket.market.quote
            day[quote] = day.get(quote, Decimal(0)) + change
        self._realized[bracket.id] = realized
        if bracket.state in FINAL:
            self.open.pop(bracket.id, None)
        else:
            self.open[bracket.id] = bracket
        self.brackets[bracket.id] = bracket
        self.saves += 1

    def _compare_and_swap(self, bracket: Bracket) -> None:
        """Count the save in the bracket's version; in a holder's batch, only if the bracket is
        as the holder saw it and no newer fencing token saved it.

        Raises:
            StaleBracket: the save is refused.
        """
        version, stored = self.versions.get(bracket.id, NEW), self.fences.get(bracket.id)
        holder = holder_of(self)
        if holder is not None:
            holder.check(bracket.id)
            expected, token = holder.expected(bracket.id), holder.token(bracket)
            if expected != version or fence_refuses(token, stored):
                error = refusal(bracket, expected, version, token, stored)
                holder.stale.add(bracket.id)
                raise error
            holder.saw(bracket.id, version + 1)
            if token is not None:
                self.fences[bracket.id] = token
        self.versions[bracket.id] = version + 1

    @contextmanager
    def batch(self, *fences: Fence) -> Iterator[None]:
        """Nothing is kept back in memory: every step and save is in place at once."""
        with holding(self, fences):
            yield

    def _seen(self, brackets: list[Bracket]) -> list[Bracket]:
        if (holder := holder_of(self)) is not None:
            for bracket in brackets:
                holder.saw(bracket.id, self.versions[bracket.id])
        return brackets

    def bracket(self, bracket_id: str) -> Bracket | None:
        found = self.brackets.get(bracket_id)
        return None if found is None else self._seen([found])[0]

    def open_bracket_versions(self) -> dict[str, object]:
        return {i: self.versions[i] for i in self.open}

    def brackets_by_id(self, bracket_ids: Sequence[str]) -> list[Bracket]:
        return self._seen([self.brackets[i] for i in sorted(bracket_ids)])

    def open_brackets(self, account: str | None = None, symbol: str | None = None) -> list[Bracket]:
        return self._seen([
            b
            for _, b in sorted(self.open.items())
            if (account is None or b.account == account) and (symbol is None or b.symbol == symbol)
        ])  # fmt: skip

    def account_state(
        self, account: str, symbol: str, now: datetime, reserved: Collection[str] = ()
    ) -> AccountState:
        brackets = self.open_brackets(account)
        holdings = sum_holdings(
            (b.venue, b.symbol, b.side.value, b.position, b.entry_price) for b in brackets
        )
        return AccountState(
            holdings,
            self._activity(account, symbol, now),
            self.state,
            resting=tuple(e for b in brackets if (e := resting_entry(b)) is not None),
            on_record=frozenset(i for i in reserved if i in self.open),
            account_trading_state=self.account_states.get(account, TradingState.ACTIVE),
            in_doubt=tuple(
                b for b in brackets
                if b.symbol == symbol and any(o.state is OrderState.UNKNOWN and o.order_id is None
                                              for o in b.orders)
            ),
        )  # fmt: skip

    def _activity(self, account: str, symbol: str, now: datetime) -> Activity:
        recent = self._recent_orders
        minute_ago = now - timedelta(minutes=1)
        while recent and recent[0] < minute_ago:
            recent.popleft()
        stopped = self._stop_fills.get((account, symbol))
        stops = {} if stopped is None else {symbol: stopped}
        pnl = self._pnl_by_day.get((account, now.date()), {})
        return Activity(dict(pnl), len(recent), stops)

    def trading_state(self, account: str | None = None) -> TradingState:
        own = self.account_states.get(account or "", TradingState.ACTIVE)
        return stricter(self.state, own)

    def set_trading_state(self, state: TradingState, at: datetime, reason: str) -> None:
        self.state = state

    def orders(self, query: OrderQuery) -> list[OrderView]:
        raise NotImplementedError("a backtest reads its brackets; the SQL store lists orders")


def resting_entry(bracket: Bracket) -> RestingEntry | None:
    """The bracket's entry orders not filled yet, at their limit or trigger price."""
    waiting = [o for o in bracket.orders if o.leg is Leg.ENTRY and o.is_open]
    if not waiting:
        return None
    notional: Decimal | None = Decimal(0)
    for order in waiting:
        price = order.price or order.trigger_price
        notional = None if notional is None or price is None else notional + order.remaining * price
    return RestingEntry(bracket.id, bracket.venue, bracket.symbol, notional)


def sum_holdings(
    rows: Iterable[tuple[str, str, str, Decimal | str, Decimal | str | None]],
) -> list[Holding]:
    """Open brackets (venue, symbol, side, position, entry price) summed per venue, symbol and
    side: the amount held, the average entry price, how many brackets."""
    sums: dict[tuple[str, str, str], list[Any]] = {}
    for venue, symbol, side, position, entry_price in rows:
        held = Decimal(position)
        total = sums.setdefault((venue, symbol, side), [Decimal(0), Decimal(0), 0])
        total[0] += held
        total[1] += held * Decimal(entry_price) if entry_price else 0
        total[2] += 1
    return [
        Holding.summed(venue, symbol, side, held, cost, count)
        for (venue, symbol, side), (held, cost, count) in sorted(sums.items())
    ]
