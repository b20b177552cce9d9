"""The gRPC server every service runs: health, reflection, call logging, error mapping, graceful stop.

`create_server(address, services)` builds and binds a server (port 0 picks a free port, which is what
tests use) without starting it; `GrpcServer.stop(grace)` marks health NOT_SERVING first, stops accepting
calls and lets in-flight calls finish within the grace period.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status

from services.runtime.control_characters import field_with_control_character
from services.runtime.db import DATABASE_UNAVAILABLE
from services.runtime.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ServiceError,
    Unavailable,
)
from services.runtime.grpc_access import AccessInterceptor, peer_address
from services.runtime.grpc_handlers import UnaryHandlerInterceptor
from services.runtime.grpc_security import GrpcSecurity
from services.runtime.identity import (
    CLIENT_IP_KEY,
    CLIENT_USER_AGENT_KEY,
    REQUEST_ID_KEY,
    CallerIdentity,
)
from services.runtime.logs import request_id_var
from services.runtime.observability import outer_interceptors
from services.runtime.validation import check_request

log = logging.getLogger("services.rpc")

HEALTH_SERVICE_NAME = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
# A connection is closed (GOAWAY, calls in flight finish within the grace) after this age, so that
# round-robin clients re-resolve a headless Service's name and spread over replicas added since.
MAX_CONNECTION_AGE_SECONDS = 300.0
MAX_CONNECTION_AGE_GRACE_SECONDS = 30.0
_QUIET_PREFIXES = ("/grpc.health.", "/grpc.reflection.")
_STATUS_OF = {
    NotFound: grpc.StatusCode.NOT_FOUND,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}


@dataclass(frozen=True)
class ServiceDefinition:
    """One gRPC service to serve: its full name (for health and reflection) and how to register it."""

    name: str
    register: Callable[[grpc.Server], None]


def text_metadata(metadata: Sequence[tuple[str, str | bytes]] | None) -> dict[str, str]:
    """The text entries of call metadata (binary ones, with keys ending in `-bin`, are left out)."""
    return {key: value for key, value in metadata or () if isinstance(value, str)}


def caller_identity(context: grpc.ServicerContext) -> CallerIdentity:
    """The end client as the gateway (or chat, relaying a visitor's action) reported it in metadata,
    else the gRPC peer itself (the access interceptor hides the metadata of any other caller)."""
    metadata = text_metadata(context.invocation_metadata())
    return CallerIdentity(
        ip_address=metadata.get(CLIENT_IP_KEY) or peer_address(context.peer()),
        user_agent=metadata.get(CLIENT_USER_AGENT_KEY) or metadata.get("user-agent", ""),
        # The call interceptor has taken the id from metadata or generated one.
        request_id=request_id_var.get() if request_id_var.get() != "-" else "",
    )


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str, *details: Any) -> None:
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        packed = any_pb2.Any()
        packed.Pack(detail)
        status.details.append(packed)
    context.abort_with_status(rpc_status.to_status(status))


def _bad_request(error: InvalidArgument) -> error_details_pb2.BadRequest:
    violations = [
        error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
        for field, description in error.violations
    ]
    return error_details_pb2.BadRequest(field_violations=violations)


def _request_id(metadata: Sequence[tuple[str, str | bytes]] | None) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str):
            return value
    return ""


class CallInterceptor(UnaryHandlerInterceptor):
    """Logs every unary call (method, status, duration, request id), refuses a request that breaks its
    contract's rules (control characters in text; the buf.validate options) before the servicer sees
    it, and maps errors to status codes.

    Use cases raise `ServiceError`s; a database that cannot be reached becomes UNAVAILABLE; anything
    else is logged with its traceback and answered INTERNAL without the details, so a caller never sees
    a stack trace.
    """

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        level = logging.DEBUG if method.startswith(_QUIET_PREFIXES) else logging.INFO
        inner = handler.unary_unary
        if inner is None:  # checked by intercept_service
            return handler

        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            request_id = _request_id(context.invocation_metadata()) or uuid.uuid4().hex
            token = request_id_var.set(request_id)
            started = time.perf_counter()
            try:
                if (field := field_with_control_character(request)) is not None:
                    raise InvalidArgument(field, "must not contain control characters")
                check_request(request)  # the buf.validate rules of the contract
                return inner(request, context)
            except InvalidArgument as error:
                _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(error), _bad_request(error))
            except ServiceError as error:
                code = next(c for kind, c in _STATUS_OF.items() if isinstance(error, kind))
                _abort(context, code, str(error))
            except DATABASE_UNAVAILABLE:
                log.exception("database unavailable during %s", method)
                _abort(context, grpc.StatusCode.UNAVAILABLE, "database unavailable, try again later")
            except Exception:
                # grpc's servicer context has code(); types-grpcio does not declare it.
                if context.code() is not None:  # type: ignore[attr-defined]  # the servicer aborted
                    raise
                log.exception("unexpected error in %s", method)
                _abort(context, grpc.StatusCode.INTERNAL, "internal error")
            finally:
                code = context.code() or grpc.StatusCode.OK  # type: ignore[attr-defined]
                elapsed_ms = (time.perf_counter() - started) * 1000
                if log.isEnabledFor(level):
                    log.log(
                        level, "rpc %s %s %.1fms request_id=%s", method, code.name, elapsed_ms, request_id
                    )
                request_id_var.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class GrpcServer:
    """A bound, not yet started server with its health servicer."""

    def __init__(
        self, server: grpc.Server, port: int, health_servicer: health.HealthServicer, names: Sequence[str]
    ) -> None:
        self.server = server
        self.port = port
        self.health = health_servicer
        self.service_names = tuple(names)

    def start(self) -> None:
        self.server.start()
        for name in ("", *self.service_names):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float) -> None:
        """NOT_SERVING first, then stop accepting calls and give in-flight ones `grace` seconds."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()

    def wait(self, timeout: float | None = None) -> bool:
        return self.server.wait_for_termination(timeout)


def create_server(
    address: str,
    services: Sequence[ServiceDefinition],
    *,
    max_workers: int = 16,
    security: GrpcSecurity | None = None,
    max_connection_age: float = MAX_CONNECTION_AGE_SECONDS,
) -> GrpcServer:
    """Builds a server with the given services, the standard health service and reflection, and binds
    it to `address` (over mutual TLS when configured); raises RuntimeError if the address cannot be
    bound, or if it is not loopback and neither TLS nor GRPC_ALLOW_INSECURE is configured."""
    security = security or GrpcSecurity()
    security.check_listen_address(address.rsplit(":", 1)[0].strip("[]"))
    server = grpc.server(
        ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        # Tracing and metrics outermost: metrics see the status the error mapping inside settled on;
        # the call interceptor comes before access, so refused calls are logged like any other.
        interceptors=[*outer_interceptors(), CallInterceptor(), AccessInterceptor(security)],
        options=[
            # Without this a second process on the same port would silently share it.
            ("grpc.so_reuseport", 0),
            # Clients reconnect (and resolve the name again) after this: new replicas get calls.
            ("grpc.max_connection_age_ms", int(max_connection_age * 1000)),
            ("grpc.max_connection_age_grace_ms", int(MAX_CONNECTION_AGE_GRACE_SECONDS * 1000)),
        ],
    )
    for service in services:
        service.register(server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [service.name for service in services]
    for name in ("", *names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    reflection.enable_server_reflection([*names, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME], server)
    try:
        if security.tls is not None:
            port = server.add_secure_port(address, security.tls.server_credentials())
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as error:
        raise RuntimeError(f"cannot listen on {address}: {error}") from None
    if port == 0:
        raise RuntimeError(f"cannot listen on {address}")
    return GrpcServer(server, port, health_servicer, names)
