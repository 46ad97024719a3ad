"""The in-memory `ExecutionStore` for unit tests of execution and the bracket monitor, keeping
what is saved or recorded in a batch back the way the SQL store does, so that a test venue can
check that nothing is left unwritten when an order is sent or cancelled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from app.adapters.memory_execution import MemoryExecutionStore as _Store
from app.adapters.paper.exchange import PaperExchange
from app.domain.brackets.bracket import Bracket
from app.domain.notifications import Event
from app.domain.orders import OrderRequest, OrderStatus
from app.domain.signals import SignalStatus
from app.ports.execution import Fence, LineageStep

__all__ = ["MemoryExecutionStore", "OnRecordFirst", "RecordingNotifier"]


class MemoryExecutionStore(_Store):
    def __init__(self) -> None:
        super().__init__()
        self.kept_back: list[str] = []  # saves and steps made in a batch and not written yet
        self.batches_left = 0
        self._open = 0

    @contextmanager
    def batch(self, *fences: Fence) -> Iterator[None]:
        self._open += 1
        try:
            with super().batch(*fences):
                yield
        finally:
            self._open -= 1
            self.batches_left += 1
            self.kept_back.clear()  # leaving any batch writes everything kept back

    def save_bracket(self, bracket: Bracket, at: datetime) -> None:
        super().save_bracket(bracket, at)
        if self._open:
            self.kept_back.append(f"save of {bracket.id}")

    def record(self, step: LineageStep, *, status: SignalStatus | None = None) -> None:
        super().record(step, status=status)
        if status is not None:
            self.kept_back.clear()  # a status change writes everything kept back
        elif self._open:
            self.kept_back.append(f"step {step.step} of {step.signal_id}")


class OnRecordFirst(PaperExchange):
    """A paper venue that fails the test when an order is sent or cancelled while `store` keeps
    a save or a step back: every order is on record, as it is sent, before the venue acts."""

    store: MemoryExecutionStore | None = None

    async def create_order(self, request: OrderRequest) -> OrderStatus:
        self._check(f"create {request.client_order_id}")
        return await super().create_order(request)

    async def cancel_order(self, symbol: str, order_id: str) -> OrderStatus:
        self._check(f"cancel {order_id}")
        return await super().cancel_order(symbol, order_id)

    def _check(self, what: str) -> None:
        if self.store is not None:
            assert self.store.kept_back == [], f"{what} sent with {self.store.kept_back} unwritten"


class RecordingNotifier:
    """A `Notifier` that keeps the events it is handed, in order (the port's unit-test fake; the
    RQ adapter is tested against Redis)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def notify(self, event: Event) -> None:
        self.events.append(event)
