"""OpenTelemetry traces, configured from the standard OTEL_* variables; off unless
OTEL_EXPORTER_OTLP_ENDPOINT is set.

Spans go over OTLP/HTTP (protobuf) through a batch processor: exporting happens in a background thread
with a bounded queue (OTEL_BSP_MAX_QUEUE_SIZE), so an unreachable collector never slows or fails a
request; spans that could not be exported or found the queue full are counted in
`novahouse_tracing_spans_dropped_total`. The sampler (OTEL_TRACES_SAMPLER, default parentbased_always_on),
exporter timeout and headers are the SDK's own handling of the standard variables.

What is traced once `configure_tracing` ran: gRPC servers and clients (the contrib interceptors, which
carry W3C `traceparent` in metadata), SQL statements (SQLAlchemy), Redis commands, and the spans the
services open themselves (the gateway's HTTP span, the outbox hand-over, a notifier delivery).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind
from prometheus_client import Counter
from sqlalchemy import Engine

log = logging.getLogger(__name__)

SPANS_DROPPED = Counter(
    "novahouse_tracing_spans_dropped",
    "Spans not exported: the exporter failed (collector unreachable) or the queue was full.",
    ("reason",),
)
TRACER_NAME = "novahouse"

_provider: Any = None  # the SDK TracerProvider once configured


def enabled() -> bool:
    return _provider is not None


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def configure_tracing(service: str) -> bool:
    """Sets up the SDK for this process (the caller checked OTEL_EXPORTER_OTLP_ENDPOINT is set), named
    `novahouse-<service>` unless OTEL_SERVICE_NAME says otherwise; answers whether tracing is on.
    Safe to call more than once (the first call wins)."""
    global _provider
    if _provider is not None:
        return True
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    from services.runtime.tracing_export import CountingBatchProcessor, CountingExporter

    name = os.environ.get("OTEL_SERVICE_NAME", "").strip() or f"novahouse-{service}"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(CountingBatchProcessor(CountingExporter(OTLPSpanExporter())))
    trace.set_tracer_provider(provider)
    _provider = provider
    RedisInstrumentor().instrument(tracer_provider=provider)
    log.info("tracing to %s as %s", os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"), name)
    return True


def instrument_engine(engine: Engine) -> None:
    """SQL statements of `engine` become spans (no-op while tracing is off).

    The contrib package's `SQLAlchemyInstrumentor().instrument()` is not used: it declares
    sqlalchemy < 2.1 (on the project's 2.1 it logs an error and instruments nothing unless told
    skip_dep_check=True), and it then wraps create_async_engine, whose import needs greenlet, which the
    project does not install. Its EngineTracer, which instrument(engine=...) builds, works on 2.1:
    tests/e2e/test_observability.py sees the SQL spans."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter

    usage = get_meter(TRACER_NAME).create_up_down_counter("db.client.connections.usage", unit="connections")
    EngineTracer(
        trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", tracer_provider=_provider), engine, usage
    )


def shutdown_tracing() -> None:
    """Exports what is queued (bounded by the exporter's timeout); for a stopping process."""
    if _provider is not None:
        _provider.shutdown()


def server_interceptors() -> list[Any]:
    """The contrib gRPC server interceptor (continues the caller's trace) when tracing is on; health
    checks are not traced."""
    if not enabled():
        return []
    from opentelemetry.instrumentation.grpc import filters, server_interceptor

    return [server_interceptor(filter_=filters.negate(filters.health_check()))]


def traced_channel(channel: grpc.Channel) -> grpc.Channel:
    """A synchronous channel whose calls are client spans carrying the trace context in metadata (the
    contrib interceptor needs the contrib package's own intercept_channel)."""
    if not enabled():
        return channel
    from opentelemetry.instrumentation.grpc import client_interceptor
    from opentelemetry.instrumentation.grpc.grpcext import intercept_channel

    return intercept_channel(channel, client_interceptor())


def aio_client_interceptors() -> list[Any]:
    """For grpc.aio channels (the gateway)."""
    if not enabled():
        return []
    from opentelemetry.instrumentation.grpc import aio_client_interceptors as interceptors

    return list(interceptors())


# --- carrying a trace across the outbox --------------------------------------------------------------


def current_context_text() -> str | None:
    """The current trace context as W3C headers in JSON ('{"traceparent": ...}'), None without one."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return json.dumps(carrier, separators=(",", ":")) if carrier else None


@contextmanager
def continued_span(name: str, stored: str | None, **attributes: Any) -> Iterator[Span]:
    """A span whose parent is the context `current_context_text` stored (the transaction that queued
    the work), so what happens later belongs to the visitor's trace; a fresh trace without one."""
    parent = None
    if stored:
        try:
            carrier = json.loads(stored)
        except ValueError:
            carrier = None
        if isinstance(carrier, dict):
            parent = propagate.extract({str(k): str(v) for k, v in carrier.items()})
    with tracer().start_as_current_span(name, context=parent, kind=SpanKind.INTERNAL) as span:
        for key, value in attributes.items():
            span.set_attribute(key, value)
        yield span


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span]:
    """A child span of the current one (no-op spans while tracing is off)."""
    with tracer().start_as_current_span(name) as current:
        for key, value in attributes.items():
            current.set_attribute(key, value)
        yield current


def extract_headers(headers: Mapping[str, bytes]) -> otel_context.Context:
    """The trace context of W3C `traceparent`/`tracestate` request headers (lower-case names)."""
    carrier = {
        name: value.decode("latin-1")
        for name in ("traceparent", "tracestate")
        if (value := headers.get(name))
    }
    return propagate.extract(carrier)


def ids_of_current_span() -> tuple[str, str]:
    """(trace id, span id) in hex, or ('-', '-') outside a valid span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "-", "-"
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
