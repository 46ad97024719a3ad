"""/metrics in Prometheus text: one `MetricsSnapshot`, taken at scrape time, rendered through
prometheus_client (imported on the first scrape, not at the web process's start)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from app.ports.metrics import MetricsSnapshot, MetricsSource

LATENCY_QUANTILES = (0.5, 0.9, 0.99)


def render(source: MetricsSource) -> bytes:
    """The figures of one snapshot of `source`, in Prometheus text (blocking: it reads the stores).

    Raises:
        Unavailable: a store could not be read.
    """
    return generate_latest(SnapshotCollector(source))


class SnapshotCollector:
    """A prometheus_client collector that renders one `MetricsSnapshot` per scrape."""

    def __init__(self, source: MetricsSource) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        snapshot = self._source.collect()
        yield _gauge(
            "signalgate_signals_total",
            "Signals in the database, by their current status.",
            "status",
            snapshot.signals_by_status,
        )
        yield _gauge(
            "signalgate_queue_depth", "Jobs waiting on the RQ queue.", "queue", snapshot.queue_depth
        )
        yield _gauge(
            "signalgate_jobs",
            "RQ jobs in the queue's registries: started, failed, deferred, scheduled.",
            "state",
            snapshot.jobs_by_state,
        )
        yield _summary(
            "signalgate_job_latency_seconds",
            "Enqueued to finished, over the most recently finished RQ jobs"
            " (a window, not a total).",
            snapshot.job_latencies_seconds,
        )
        yield from _execution_metrics(snapshot)
        for key, values in sorted(snapshot.extra.items()):
            name, _, label = key.partition(":")
            yield _gauge(f"signalgate_{name}", f"signalgate {name}.", label or None, values)
        for key, values in sorted(snapshot.counters.items()):
            name, _, label = key.partition(":")
            yield _counter(f"signalgate_{name}", _COUNTERS.get(name, name), label, values)


def _gauge(name: str, doc: str, label: str | None, values: dict[str, Any]) -> GaugeMetricFamily:
    if label is None:
        return GaugeMetricFamily(name, doc, value=float(sum(values.values())))
    labels = label.split(",")  # "venue,symbol": each key holds the values the same way
    family = GaugeMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(key.split(",", len(labels) - 1), float(value))
    return family


_COUNTERS = {
    "notifications": "Notifications by channel (its index in NOTIFY_URLS, or ACCOUNT-INDEX for"
    " an account's own), service and outcome: sent, retried, failed (given up), deferred (waits"
    " for its turn), dropped, duplicate.",
}


def _counter(name: str, doc: str, label: str, values: dict[str, float]) -> CounterMetricFamily:
    labels = label.split(",")
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(key.split(",", len(labels) - 1), value)
    return family


def quantile(ordered: list[float], q: float) -> float:
    """The nearest-rank quantile of an ascending list (NaN when it is empty)."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _execution_metrics(snapshot: MetricsSnapshot) -> Iterator[Metric]:
    yield _gauge(
        "signalgate_orders", "Orders in the database, by state.", "state", snapshot.orders_by_state
    )
    yield _gauge(
        "signalgate_brackets",
        "Brackets in the database, by state.",
        "state",
        snapshot.brackets_by_state,
    )
    yield GaugeMetricFamily(
        "signalgate_brackets_unprotected",
        "Open brackets whose protective leg could not be placed: alert when above 0.",
        value=float(snapshot.brackets_unprotected),
    )
    decisions = GaugeMetricFamily(
        "signalgate_decisions",
        "Risk decisions of the last 24 hours: approvals, and denials once per failed check.",
        labels=["outcome", "reason"],
    )
    for outcome, reasons in sorted(snapshot.decisions.items()):
        for reason, count in sorted(reasons.items()):
            decisions.add_metric([outcome, reason], float(count))
    yield decisions
    yield _gauge(
        "signalgate_trading_state",
        "1 for the current trading state (the kill switch), 0 for the others.",
        "state",
        snapshot.trading_state,
    )
    yield _summary(
        "signalgate_execution_latency_seconds",
        "Signal received to its first order sent, over the most recently executed signals.",
        snapshot.execution_latencies_seconds,
    )


def _summary(name: str, doc: str, values: tuple[float, ...]) -> Metric:
    summary = Metric(name, doc, "summary")
    ordered = sorted(values)
    for q in LATENCY_QUANTILES:
        summary.add_sample(name, {"quantile": str(q)}, quantile(ordered, q))
    summary.add_sample(f"{name}_count", {}, float(len(ordered)))
    summary.add_sample(f"{name}_sum", {}, float(sum(ordered)))
    return summary
