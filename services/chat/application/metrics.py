"""What the chat service counts, and its gauges read at scrape time (docs/observability.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

FOLLOWUP_OUTCOMES = ("sent", "already_sent", "skipped_no_consent", "deferred")
FOLLOWUPS = Counter(
    "novahouse_chat_followups",
    "Follow-ups handled by the scheduled passes, by outcome.",
    ("outcome",),
)
for _outcome in FOLLOWUP_OUTCOMES:
    FOLLOWUPS.labels(_outcome)

HANDOVERS = Counter(
    "novahouse_chat_outbox_handovers",
    "Outbox calls handed to the consent service or the notifier (outcome ok) or to be retried (failed).",
    ("kind", "outcome"),
)


def outbox_source(pending: Callable[[], int]) -> Callable[[], Iterable[Metric]]:
    def read() -> list[Metric]:
        gauge = GaugeMetricFamily(
            "novahouse_chat_outbox_pending", "Calls in the outbox not yet handed over (due or backing off)."
        )
        gauge.add_metric([], pending())
        return [gauge]

    return read
