"""Builds the reconciler the monitor runs beside the bracket monitor (a part of the wiring)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import Engine

from app.adapters.sql.reconciliation import SqlReconciliationStore
from app.config.settings import Settings
from app.domain.reconciliation import DriftPolicy, default_policy
from app.ports.exchange import Exchange
from app.services.brackets.monitor import BracketMonitor
from app.services.reconciliation.reconciler import Reconciler


def drift_policies(settings: Settings) -> dict[str, DriftPolicy]:
    """`DRIFT_POLICY` for every venue, else by its mode: reduce_only when live, flag otherwise."""
    return {v.name: settings.drift_policy or default_policy(v.mode.value) for v in settings.venues}


def build_reconciler(
    settings: Settings,
    engine: Engine,
    venues: Mapping[str, Exchange],
    monitor: BracketMonitor,
    active: Callable[[], bool],
    policies: Mapping[str, DriftPolicy] | None = None,
) -> Reconciler:
    """The reconciler over the monitor's store, driver and locks, acting while `active`;
    `policies`: the drift policy of each venue (else `drift_policies`)."""

    def retry_now(bracket_id: str) -> None:  # reconciliation changed it: no backoff left
        monitor.restless.pop(bracket_id, None)

    return Reconciler(
        store=monitor.store,
        records=SqlReconciliationStore(engine),
        venues=venues,
        driver=monitor.driver,
        locks=monitor.locks,
        clock=monitor.driver.clock,
        policies=drift_policies(settings) if policies is None else policies,
        baselines=settings.reconcile_baselines,
        symbols=settings.market_data.symbols,
        interval_seconds=settings.reconcile_interval_seconds,
        active=active,
        on_adjusted=retry_now,
        notifier=monitor.driver.notifier,
    )
