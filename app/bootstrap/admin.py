"""Wiring of the admin commands that act on the book directly (the kill switch)."""

from __future__ import annotations

from app.adapters.sql.db import make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.system import SystemClock
from app.config.settings import Settings
from app.domain.risk_values import TradingState


def set_trading_state(settings: Settings, state: TradingState, reason: str) -> None:
    """The kill switch, from the CLI."""
    engine = make_engine(settings.database_url)
    try:
        SqlExecutionStore(engine).set_trading_state(state, SystemClock().now(), reason)
    finally:
        engine.dispose()
