"""Span export never holds a request: a collector that is down or a full queue costs spans, counted in
novahouse_tracing_spans_dropped_total, not time."""

from __future__ import annotations

import time

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY

from services.runtime.tracing_export import CountingBatchProcessor, CountingExporter
from tests.support.network import free_port
from tests.support.polling import eventually


def dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("novahouse_tracing_spans_dropped_total", {"reason": reason}) or 0.0


def test_an_unreachable_collector_costs_no_time_and_its_spans_are_counted():
    nobody = f"http://127.0.0.1:{free_port()}/v1/traces"  # nothing listens there
    provider = TracerProvider()
    provider.add_span_processor(
        CountingBatchProcessor(
            CountingExporter(OTLPSpanExporter(endpoint=nobody, timeout=1)), schedule_delay_millis=50
        )
    )
    tracer = provider.get_tracer("test")
    before = dropped("export_failed")
    started = time.monotonic()
    for _ in range(20):
        with tracer.start_as_current_span("request"):
            pass
    assert time.monotonic() - started < 0.5  # ending spans does not wait for the collector
    eventually(lambda: dropped("export_failed") - before, lambda count: count == 20, timeout=15)
    provider.shutdown()


def test_spans_that_find_the_queue_full_are_counted():
    provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{free_port()}/v1/traces", timeout=1)
    provider.add_span_processor(
        CountingBatchProcessor(
            CountingExporter(exporter),
            max_queue_size=4,
            max_export_batch_size=4,
            schedule_delay_millis=60_000,
        )
    )
    tracer = provider.get_tracer("test")
    before = dropped("queue_full")
    for _ in range(10):
        with tracer.start_as_current_span("request"):
            pass
    # four in the queue and at most four being exported: the rest found the queue full
    assert dropped("queue_full") - before >= 2
    provider.shutdown()
