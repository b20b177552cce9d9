"""Where metrics, traces and logs hook into the runtime: the interceptors every gRPC server and client
gets, and the per-process set-up a service's `main` runs before it builds anything."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc

from services.runtime import tracing
from services.runtime.config import Environment, parse_http_url
from services.runtime.grpc_metrics import ClientMetricsInterceptor, ServerMetricsInterceptor
from services.runtime.logs import configure_logging
from services.runtime.metrics import MetricsEndpoint, MetricsServer, metrics_endpoint, serve_metrics
from services.runtime.recording import recording, set_recording

log = logging.getLogger(__name__)


def outer_interceptors() -> list[grpc.ServerInterceptor]:
    """Tracing first (its span is current while the rest runs, so log lines carry its id), then
    metrics, which see the status the service's own error mapping settled on. With METRICS_ENABLED=false
    the metrics interceptor is left out."""
    metrics = [ServerMetricsInterceptor()] if recording() else []
    return [*tracing.server_interceptors(), *metrics]


def instrument_channel(channel: grpc.Channel) -> grpc.Channel:
    """A synchronous channel whose calls carry the current trace context, and are counted unless
    METRICS_ENABLED=false."""
    traced = tracing.traced_channel(channel)
    return grpc.intercept_channel(traced, ClientMetricsInterceptor()) if recording() else traced


@dataclass(frozen=True)
class ObservabilitySettings:
    """The variables of docs/observability.md that are not part of a service's own settings."""

    metrics: MetricsEndpoint
    otlp_endpoint: str | None  # OTEL_EXPORTER_OTLP_ENDPOINT; None: tracing off
    # METRICS_ENABLED=false: nothing counted and no endpoint (to measure what metrics cost, issue 15).
    metrics_enabled: bool = True

    @classmethod
    def from_env(cls, env: Environment, service: str) -> ObservabilitySettings:
        """Raises ConfigError naming a malformed variable."""
        return cls(
            metrics=metrics_endpoint(env, service),
            otlp_endpoint=env.parsed(
                "OTEL_EXPORTER_OTLP_ENDPOINT", None, parse_http_url, "an http(s) URL such as http://otel:4318"
            ),
            metrics_enabled=env.flag("METRICS_ENABLED", True),
        )


@dataclass
class ProcessObservability:
    metrics: MetricsServer | None
    tracing: bool

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
        tracing.shutdown_tracing()


def start_observability(
    env: Environment, service: str, *, host: str, level: str, log_format: str
) -> ProcessObservability:
    """Logging, tracing (before any engine, Redis client or channel exists, so they are instrumented)
    and the metrics endpoint; raises ConfigError for a malformed variable or a metrics port that cannot
    be bound."""
    settings = ObservabilitySettings.from_env(env, service)
    configure_logging(level, log_format=log_format, service=service)
    logging.captureWarnings(True)
    traced = settings.otlp_endpoint is not None and tracing.configure_tracing(service)
    set_recording(settings.metrics_enabled)
    metrics = None
    if settings.metrics_enabled and settings.metrics.port is not None:
        metrics = serve_metrics(host, settings.metrics.port, variable=settings.metrics.variable)
        log.info("metrics at http://%s:%d/metrics", host, metrics.port)
    return ProcessObservability(metrics, traced)
