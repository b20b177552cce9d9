"""Channels to other services, opened once and shared by every call.

gRPC's default reconnect backoff grows to two minutes, so a service that restarted would stay
unreachable to its callers long after it is back. Capping it at two seconds makes recovery quick while
calls to a service that is down still fail at once (no wait_for_ready): callers have a fallback.
"""

from __future__ import annotations

import grpc

from services.runtime.observability import instrument_channel

CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    # Pings notice a peer that vanished without closing the connection (a killed host, a dropped NAT).
    ("grpc.keepalive_time_ms", 30000),
    ("grpc.keepalive_timeout_ms", 10000),
)


def open_channel(address: str) -> grpc.Channel:
    """A channel whose calls are counted (grpc_client_* metrics) and carry the trace context."""
    return instrument_channel(grpc.insecure_channel(address, options=CHANNEL_OPTIONS))
