"""The domain's policy objects, built once from the loaded settings."""

from __future__ import annotations

from app.config.settings import Settings
from app.domain.execution_policy import ExecutionPolicy
from app.domain.risk_values import RiskLimits
from app.domain.sizing import SizingPolicy
from app.services.intake import IntakePolicy


def intake_policy(settings: Settings) -> IntakePolicy:
    return IntakePolicy(
        confidence_threshold=settings.confidence_threshold,
        strategy_thresholds=dict(settings.strategy_thresholds),
        confidence_required=settings.confidence_required,
        max_age_seconds=settings.signal_max_age_seconds,
        dedupe_window_seconds=settings.dedupe_window_seconds,
        dedupe_id_window_seconds=settings.dedupe_id_window_seconds,
        rate_limit_per_minute=settings.rate_limit_per_minute,
    )


def risk_limits(settings: Settings) -> RiskLimits:
    """The risk gate's limits from the loaded settings."""
    return RiskLimits(
        allow_symbols=settings.symbols_allow,
        deny_symbols=settings.symbols_deny,
        max_order_notional=settings.max_order_notional,
        max_total_exposure=settings.max_total_exposure,
        max_open_positions=settings.max_open_positions,
        max_daily_loss=settings.max_daily_loss,
        stop_loss_cooldown_seconds=settings.stop_loss_cooldown_seconds,
        max_orders_per_minute=settings.max_orders_per_minute,
        price_band_percent=settings.price_band_percent,
    )


def sizing_policy(settings: Settings) -> SizingPolicy:
    """The sizing defaults from the loaded settings; computed sizes share the order cap."""
    return SizingPolicy(
        default_mode=settings.default_qty_mode,
        default_quantity=settings.default_quantity,
        max_order_notional=settings.max_order_notional,
    )


def execution_policy(settings: Settings) -> ExecutionPolicy:
    return ExecutionPolicy(
        entry_policy=settings.entry_policy,
        close_unprotected=settings.close_unprotected,
        slippage_bps=settings.slippage_bps,
    )
