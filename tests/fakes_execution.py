"""The in-memory `ExecutionStore` for unit tests of execution and the bracket monitor, counting
its flushes."""

from __future__ import annotations

from app.adapters.memory_execution import MemoryExecutionStore as _Store
from app.adapters.memory_execution import Step

__all__ = ["MemoryExecutionStore", "Step"]


class MemoryExecutionStore(_Store):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
