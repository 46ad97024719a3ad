"""What strategy performance reads: the closed trades."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import msgspec

from app.domain.performance import ClosedTrade


class TradeQuery(msgspec.Struct, frozen=True):
    strategy: str | None = None
    account: str | None = None
    since: datetime | None = None  # closed at or after
    until: datetime | None = None  # closed before


class ClosedTrades(Protocol):
    def closed_trades(self, query: TradeQuery) -> list[ClosedTrade]:
        """The closed brackets matching `query` as trades (blocking I/O)."""
        ...
