"""Where metrics, traces and logs hook into the runtime: the interceptors every gRPC server and client
gets, and the per-process set-up a service's `main` runs before it builds anything."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc

from services.runtime import tracing
from services.runtime.config import Environment
from services.runtime.grpc_metrics import ClientMetricsInterceptor, ServerMetricsInterceptor
from services.runtime.logs import configure_logging
from services.runtime.metrics import MetricsServer, start_metrics


def outer_interceptors() -> list[grpc.ServerInterceptor]:
    """Tracing first (its span is current while the rest runs, so log lines carry its id), then
    metrics, which see the status the service's own error mapping settled on."""
    return [*tracing.server_interceptors(), ServerMetricsInterceptor()]


def instrument_channel(channel: grpc.Channel) -> grpc.Channel:
    """A synchronous channel whose calls are counted and carry the current trace context."""
    return grpc.intercept_channel(tracing.traced_channel(channel), ClientMetricsInterceptor())


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
    and the metrics endpoint; raises ConfigError when the metrics port cannot be used."""
    configure_logging(level, log_format=log_format, service=service)
    logging.captureWarnings(True)
    traced = tracing.configure_tracing(service)
    return ProcessObservability(start_metrics(env, service, host), traced)
