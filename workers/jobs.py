"""RQ job entry points: primitive arguments in, one service call, a plain value out."""

from __future__ import annotations

from app.bootstrap_execution import WorkerRuntime, worker_runtime
from app.config import load_settings

_runtime: WorkerRuntime | None = None


def runtime() -> WorkerRuntime:
    """This process's runtime, built on first use (the worker builds it before its first job)."""
    global _runtime  # noqa: PLW0603 - one runtime per worker process, by design
    if _runtime is None:
        _runtime = worker_runtime(load_settings())
        _runtime.start()
    return _runtime


def execute_signal(signal_id: str) -> str:
    """Execute one queued signal (and any older one of its account and symbol).

    Safe to run twice: a signal already executed returns its status and places nothing.
    """
    return runtime().execute([signal_id])[signal_id].value


def execute_signals(signal_ids: list[str]) -> dict[str, str]:
    """Execute a batch the forwarder queued together; the same guarantees, signal by signal."""
    return {i: status.value for i, status in runtime().execute(signal_ids).items()}
