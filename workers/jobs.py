"""RQ job entry points: primitive arguments in, one service call, a plain value out."""

from __future__ import annotations

from app.bootstrap.worker import process_runtime


def execute_signal(signal_id: str) -> str:
    """Execute one queued signal (and any older one of its account and symbol).

    Safe to run twice: a signal already executed returns its status and places nothing.
    """
    return process_runtime().execute([signal_id])[signal_id].value


def execute_signals(signal_ids: list[str]) -> dict[str, str]:
    """Execute a batch the forwarder queued together; the same guarantees, signal by signal."""
    return {i: status.value for i, status in process_runtime().execute(signal_ids).items()}
