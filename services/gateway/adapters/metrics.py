"""The gateway's rate-limit metrics: every decision, and which storage counts them now."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from services.gateway.application.ratelimit import Decision
from services.runtime.recording import recording

STORAGES = ("redis", "memory")
RATE_LIMIT_DECISIONS = Counter(
    "novahouse_gateway_rate_limit_decisions",
    "Rate-limit checks per policy (chat, api-hour, api-minute): allowed or refused, and the storage used.",
    ("policy", "decision", "storage"),
)


def count_decision(decision: Decision) -> None:
    if not recording():
        return
    for state in decision.states:
        outcome = "allowed" if state.allowed else "refused"
        RATE_LIMIT_DECISIONS.labels(state.policy.name, outcome, decision.storage).inc()


def storage_source(storage_in_use: Callable[[], str]) -> Callable[[], Iterable[Metric]]:
    """`novahouse_gateway_rate_limit_storage{storage}`: 1 for the storage counting limits now (memory
    while Redis is unreachable)."""

    def read() -> list[Metric]:
        family = GaugeMetricFamily(
            "novahouse_gateway_rate_limit_storage",
            "Where rate limits are counted now (1) : redis, or memory while Redis is unreachable or unset.",
            labels=["storage"],
        )
        current = storage_in_use()
        for storage in STORAGES:
            family.add_metric([storage], 1.0 if storage == current else 0.0)
        return [family]

    return read
