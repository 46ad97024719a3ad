"""`SummarySource` in SQL: what the daily summary reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Engine, Select, func, select

from app.adapters.sql.db import as_utc, transaction
from app.adapters.sql.tables import signals
from app.adapters.sql.tables_execution import brackets
from app.domain.brackets.bracket import FINAL, Bracket, BracketState
from app.domain.performance import ClosedTrade, quote_of
from app.ports.performance import TradeQuery


class SqlSummarySource:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def signal_counts(self, start: datetime, end: datetime) -> dict[str, int]:
        query = (
            select(signals.c.status, func.count())
            .where(signals.c.received_at >= start, signals.c.received_at < end)
            .group_by(signals.c.status)
        )
        with transaction(self._engine) as conn:
            return {status: int(count) for status, count in conn.execute(query).all()}

    def closed_brackets(self, start: datetime, end: datetime) -> list[Bracket]:
        query = select(brackets.c.data).where(
            brackets.c.state == BracketState.CLOSED.value,
            brackets.c.closed_at >= start,
            brackets.c.closed_at < end,
        )
        return self._brackets(query)

    def closed_trades(self, query: TradeQuery) -> list[ClosedTrade]:
        picked = select(
            signals.c.strategy, brackets.c.account, brackets.c.symbol, brackets.c.closed_at,
            brackets.c.realized_pnl,
        ).select_from(brackets.outerjoin(signals, signals.c.id == brackets.c.id))  # fmt: skip
        picked = picked.where(brackets.c.state == BracketState.CLOSED.value)
        if query.strategy is not None:
            picked = picked.where(signals.c.strategy == query.strategy)
        if query.account is not None:
            picked = picked.where(brackets.c.account == query.account)
        if query.since is not None:
            picked = picked.where(brackets.c.closed_at >= query.since)
        if query.until is not None:
            picked = picked.where(brackets.c.closed_at < query.until)
        with transaction(self._engine) as conn:
            rows = conn.execute(picked.order_by(brackets.c.closed_at, brackets.c.id)).all()
        return [
            ClosedTrade(strategy, account, quote_of(symbol), as_utc(closed_at), pnl)
            for strategy, account, symbol, closed_at, pnl in rows
        ]

    def open_brackets(self) -> list[Bracket]:
        return self._brackets(
            select(brackets.c.data).where(brackets.c.state.not_in([s.value for s in FINAL]))
        )

    def _brackets(self, query: Select[Any]) -> list[Bracket]:
        with transaction(self._engine) as conn:
            rows = conn.execute(query.order_by(brackets.c.id)).scalars().all()
        return [msgspec.convert(data, Bracket) for data in rows]
