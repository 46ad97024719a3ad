"""How execution behaves where a trader must choose: a frozen value read once from settings."""

from __future__ import annotations

import enum
from decimal import Decimal

import msgspec

from app.domain.position_sync import PositionSync
from app.domain.targets import TrailingRules


class EntryPolicy(enum.StrEnum):
    """What an entry does while the account holds a position in the symbol."""

    IGNORE = "ignore"  # denied: one position per symbol
    ADD = "add"  # same side: another bracket; opposite side: close, then open
    REVERSE = "reverse"  # opposite side: close, then open; same side: denied


class ExecutionPolicy(msgspec.Struct, frozen=True):
    entry_policy: EntryPolicy = EntryPolicy.IGNORE
    close_unprotected: bool = True  # a bracket whose leg cannot be placed is flattened
    slippage_bps: Decimal = Decimal(50)  # the most a venue's book may move the price for the size
    book_depth: int = 20
    max_delay_seconds: int = 30  # an entry received longer ago than this expires, untraded
    trailing_min_interval_seconds: int = 5  # a trailing stop moves at most this often
    trailing_min_step_percent: Decimal = Decimal("0.1")  # and by at least this much of the stop
    position_sync: PositionSync = PositionSync.FLAG  # an account that drifted from its strategy

    @property
    def trailing(self) -> TrailingRules:
        return TrailingRules(self.trailing_min_interval_seconds, self.trailing_min_step_percent)
