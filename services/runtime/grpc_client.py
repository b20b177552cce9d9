"""Channels to other services, opened once and shared by every call.

gRPC's default reconnect backoff grows to two minutes, so a service that restarted would stay
unreachable to its callers long after it is back. Capping it at two seconds makes recovery quick while
calls to a service that is down still fail at once (no wait_for_ready): callers have a fallback.

Calls are spread round robin over every address the name resolves to: behind a Kubernetes headless
Service (`dns:///consent:50051`) that is every ready replica, where the default pick-first policy would
send everything over one connection to one pod. Servers close connections after a maximum age
(grpc_server.MAX_CONNECTION_AGE_SECONDS), so the name is resolved again and new replicas get calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc

from services.runtime.grpc_security import GrpcSecurity
from services.runtime.observability import instrument_channel

SERVICE_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})

CHANNEL_OPTIONS = (
    ("grpc.service_config", SERVICE_CONFIG),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    # Pings notice a peer that vanished without closing the connection (a killed host, a dropped NAT).
    ("grpc.keepalive_time_ms", 30000),
    ("grpc.keepalive_timeout_ms", 10000),
)


def open_channel(address: str, security: GrpcSecurity | None = None) -> grpc.Channel:
    """A channel over mutual TLS when configured, whose calls are counted (grpc_client_* metrics),
    carry the trace context, and carry the internal key when one is configured without TLS
    (services/runtime/grpc_security.py)."""
    security = security or GrpcSecurity()
    if security.tls is not None:
        channel = grpc.secure_channel(address, security.tls.channel_credentials(), options=CHANNEL_OPTIONS)
    else:
        channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    metadata = security.outgoing_metadata()
    if metadata:
        channel = grpc.intercept_channel(channel, _AddMetadata(metadata))
    return instrument_channel(channel)


class _AddMetadata(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self._pairs = pairs

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        metadata = [*(client_call_details.metadata or ()), *self._pairs]
        return continuation(client_call_details._replace(metadata=metadata), request)
