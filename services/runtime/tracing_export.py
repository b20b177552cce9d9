"""The SDK's span export, counting what is lost in `novahouse_tracing_spans_dropped_total` (imported
only once tracing is on: the SDK takes a while to import)."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from services.runtime.tracing import SPANS_DROPPED


class CountingExporter(SpanExporter):
    """Delegates to the OTLP exporter and counts the spans of a failed export."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self._inner.export(spans)
        except Exception:
            result = SpanExportResult.FAILURE
        if result != SpanExportResult.SUCCESS:
            SPANS_DROPPED.labels("export_failed").inc(len(spans))
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class CountingBatchProcessor(BatchSpanProcessor):
    """The SDK's batch processor; a span that ends while the queue is full is counted (the SDK then
    drops the oldest one)."""

    def on_end(self, span: ReadableSpan) -> None:
        batch = getattr(self, "_batch_processor", None)
        queue = getattr(batch, "_queue", None)
        if queue is not None and len(queue) >= getattr(batch, "_max_queue_size", 1 << 62):
            SPANS_DROPPED.labels("queue_full").inc()
        super().on_end(span)
