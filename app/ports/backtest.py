"""What a backtest needs beyond the execution ports: a paper venue it moves by hand, and a store
it reads back in memory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from app.domain.brackets.bracket import Bracket
from app.domain.market import OrderBook
from app.domain.paper.venue import PaperVenue
from app.domain.signals import Signal
from app.ports.exchange import Exchange
from app.ports.execution import ExecutionStore


class SimulatedVenue(Exchange, Protocol):
    """A paper venue that takes each replayed price when told to."""

    @property
    def venue(self) -> PaperVenue: ...

    @property
    def book_changes(self) -> int:
        """How many prices filled or triggered a resting order so far."""
        ...

    def refresh(self, symbol: str) -> None: ...


OpenVenue = Callable[
    [PaperVenue, Callable[[str], OrderBook], Callable[[], datetime]], SimulatedVenue
]


class ReplayStore(ExecutionStore, Protocol):
    """An execution store whose brackets are read back directly (one process, no database)."""

    @property
    def saves(self) -> int:
        """How many bracket saves so far: a view of the brackets is fresh until this moves."""
        ...

    @property
    def open(self) -> dict[str, Bracket]: ...

    @property
    def brackets(self) -> dict[str, Bracket]: ...

    def add(self, signal_id: str, signal: Signal, at: datetime) -> None: ...
