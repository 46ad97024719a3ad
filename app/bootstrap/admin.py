"""Wiring of the admin commands that act on the book directly (the kill switch)."""

from __future__ import annotations

from app.adapters.sql.db import make_engine
from app.adapters.sql.execution_store import SqlExecutionStore
from app.adapters.system import SystemClock
from app.bootstrap.notifications import build_notifier, close_notifier
from app.config.settings import Settings
from app.domain.risk_values import TradingState
from app.services.trading import switch_trading


def set_trading_state(settings: Settings, state: TradingState, reason: str) -> None:
    """The kill switch, from the CLI: on record, and told to the trader's channels."""
    engine = make_engine(settings.database_url)
    notifier = build_notifier(settings, engine)
    try:
        switch_trading(SqlExecutionStore(engine), notifier, state, SystemClock().now(), reason)
    finally:
        close_notifier(notifier)
        engine.dispose()
