"""The kill switch: the trading state set on record, and told."""

from __future__ import annotations

from datetime import datetime

from app.domain.notifications import TradingChanged
from app.domain.risk_values import TradingState
from app.ports.execution import ExecutionStore
from app.ports.notifications import Notifier


def switch_trading(
    store: ExecutionStore, notifier: Notifier, state: TradingState, at: datetime, reason: str
) -> None:
    """Set the trading state (halted, reducing_only, active) for `reason`, and tell the trader."""
    store.set_trading_state(state, at, reason)
    notifier.notify(TradingChanged(state.value, reason, at))
