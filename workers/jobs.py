"""RQ job entry points: primitive arguments in, one service call, a plain value out.

A signal's account and symbol come with its id (jobs queued by an older version have none: the
worker reads them)."""

from __future__ import annotations

from app.bootstrap.worker import process_runtime


def execute_signal(signal_id: str, account: str | None = None, symbol: str | None = None) -> str:
    """Execute one queued signal (and any older one of its account and symbol).

    Safe to run twice: a signal already executed returns its status and places nothing.
    """
    keys = None if account is None or symbol is None else {signal_id: (account, symbol)}
    return process_runtime().execute([signal_id], keys)[signal_id].value


def execute_signals(signal_ids: list[str], keys: list[list[str]] | None = None) -> dict[str, str]:
    """Execute a batch the forwarder queued together (`keys`: each one's account and symbol);
    the same guarantees, signal by signal."""
    by_id = (
        None if keys is None else {i: (k[0], k[1]) for i, k in zip(signal_ids, keys, strict=True)}
    )
    return {i: status.value for i, status in process_runtime().execute(signal_ids, by_id).items()}
