"""What the request flow needs from the outside: the upstream services and the limiter's state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from google.protobuf import any_pb2
from google.protobuf.message import Message

from services.gateway.application.contracts import HttpBinding


class UpstreamError(Exception):
    """A call that ended with a non-OK gRPC status."""

    def __init__(
        self, code: int, message: str, details: Sequence[any_pb2.Any] = (), *, from_service: bool = False
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = tuple(details)
        # True when the service itself sent a google.rpc.Status; False when the status came from the
        # channel (connection refused, deadline passed) or from a servicer that crashed.
        self.from_service = from_service


class Upstreams(Protocol):
    async def call(
        self, binding: HttpBinding, request: Message, metadata: Sequence[tuple[str, str]], timeout: float
    ) -> Message:
        """Calls the binding's RPC; raises UpstreamError."""
        ...

    async def serving_status(self, service: str, timeout: float) -> str:
        """grpc.health.v1 status name of the whole server, e.g. 'SERVING'; raises UpstreamError."""
        ...

    async def diagnostics(self, service: str, timeout: float) -> Message:
        """novahouse.runtime.v1.DiagnosticsService/GetDiagnostics; raises UpstreamError."""
        ...

    def address(self, service: str) -> str: ...


@dataclass(frozen=True)
class RateLimitStorageStatus:
    storage: str  # "redis" or "memory"
    strategy: str
    redis_configured: bool
    redis_reachable: bool | None  # None when no Redis is configured
    redis_detail: str


class RateLimitStorage(Protocol):
    async def status(self) -> RateLimitStorageStatus:
        """Probes Redis now (short timeout) and says which storage decisions come from."""
        ...
