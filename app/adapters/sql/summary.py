"""`SummarySource` in SQL: what the daily summary reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Engine, Select, func, select

from app.adapters.sql.db import transaction
from app.adapters.sql.tables import signals
from app.adapters.sql.tables_execution import brackets
from app.domain.brackets.bracket import FINAL, Bracket, BracketState


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

    def open_brackets(self) -> list[Bracket]:
        return self._brackets(
            select(brackets.c.data).where(brackets.c.state.not_in([s.value for s in FINAL]))
        )

    def _brackets(self, query: Select[Any]) -> list[Bracket]:
        with transaction(self._engine) as conn:
            rows = conn.execute(query.order_by(brackets.c.id)).scalars().all()
        return [msgspec.convert(data, Bracket) for data in rows]
