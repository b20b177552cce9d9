"""What the notifier counts, and the gauges read at scrape time (docs/observability.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from services.notifier.application.ports import Stats
from services.notifier.domain.model import Channel, Status
from services.runtime.breakers import BreakerStatus
from services.runtime.metrics import breaker_states

DELIVERIES = Counter(
    "novahouse_notifier_deliveries",
    "Delivery attempts by channel and outcome (delivered, retryable, permanent, rate-limited, "
    "breaker-open, busy, lost).",
    ("channel", "outcome"),
)


def dlq_families(stats: Stats, now: dt.datetime) -> list[Metric]:
    """Entries per channel and status, and the age of each channel's oldest pending entry (0 when
    none is pending, so an alert resolves)."""
    entries = GaugeMetricFamily(
        "novahouse_notifier_dlq_entries",
        "Notifications stored, by channel and status.",
        labels=["channel", "status"],
    )
    for channel in Channel:
        for status in Status:
            entries.add_metric([channel.value, status.value], stats.counts.get((status, channel), 0))
    oldest = GaugeMetricFamily(
        "novahouse_notifier_dlq_oldest_pending_seconds",
        "Age of the oldest pending notification per channel; 0 when none is pending.",
        labels=["channel"],
    )
    for channel in Channel:
        created = stats.oldest_pending_by_channel.get(channel)
        oldest.add_metric([channel.value], max(0.0, (now - created).total_seconds()) if created else 0.0)
    return [entries, oldest]


def dlq_source(stats: Callable[[], Stats]) -> Callable[[], Iterable[Metric]]:
    return lambda: dlq_families(stats(), dt.datetime.now(dt.UTC))


def breaker_source(breakers: Callable[[], list[BreakerStatus]]) -> Callable[[], Iterable[Metric]]:
    return lambda: [breaker_states({status.name: status.state for status in breakers()})]
