"""The access check every service makes before a call reaches its servicer (defence in depth: the
gateway checks the same declared access, but a service port may be reached without the gateway).

Each RPC's `(novahouse.api.v1.access)` option decides:
- PUBLIC: anyone.
- ADMIN: with ADMIN_API_KEY configured, the `x-admin-api-key` metadata must match it (UNAUTHENTICATED
  otherwise); without it, only a known service (see below) may call.
- INTERNAL: only a known service (PERMISSION_DENIED otherwise).
- no option: nobody.

A known service is, with mutual TLS, a client whose certificate names one of KNOWN_SERVICES (common
name); without TLS but with INTERNAL_API_KEY, a caller presenting it; with neither, a loopback peer.
The end client's address and user agent in `x-client-*` metadata are believed only from callers that
forward them (the gateway and chat, or any known service without TLS): from anyone else the servicer
sees the call without them, and the peer's address counts.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pool

from novahouse.api.v1 import access_pb2
from services.runtime.access import declared_access
from services.runtime.grpc_handlers import UnaryHandlerInterceptor
from services.runtime.grpc_security import (
    IDENTITY_FORWARDERS,
    INTERNAL_KEY_KEY,
    KNOWN_SERVICES,
    GrpcSecurity,
    is_loopback,
)
from services.runtime.identity import ADMIN_KEY_KEY, CLIENT_IP_KEY, CLIENT_USER_AGENT_KEY

_UNCHECKED_PREFIXES = ("/grpc.health.", "/grpc.reflection.")
_CLIENT_IDENTITY_KEYS = frozenset({CLIENT_IP_KEY, CLIENT_USER_AGENT_KEY})


def peer_address(peer: str) -> str:
    """'ipv4:10.0.0.1:5000' -> '10.0.0.1'; 'ipv6:[::1]:5000' -> '::1'; anything else as it is."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer


@dataclass(frozen=True)
class Caller:
    service: str | None  # None: not a known service
    forwards_identity: bool = False


def identify(context: grpc.ServicerContext, metadata: Mapping[str, Any], security: GrpcSecurity) -> Caller:
    if security.tls is not None:
        found: bytes | Sequence[bytes] = context.auth_context().get("x509_common_name") or []
        names: Sequence[bytes] = [found] if isinstance(found, bytes) else found
        name = names[0].decode(errors="replace") if names else None
        if name in KNOWN_SERVICES:
            return Caller(name, name in IDENTITY_FORWARDERS)
        return Caller(None)
    if security.internal_key.configured:
        if security.internal_key.matches(metadata.get(INTERNAL_KEY_KEY)):
            return Caller("service", True)
        return Caller(None)
    if is_loopback(peer_address(context.peer())):
        return Caller("local", True)
    return Caller(None)


@functools.cache
def method_access(path: str) -> int:
    """'/novahouse.chat.v1.ChatService/SendMessage' -> its declared access (UNSPECIFIED if unknown)."""
    service, _, name = path.lstrip("/").partition("/")
    try:
        method = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
    except KeyError:
        return access_pb2.ACCESS_UNSPECIFIED
    return declared_access(method)


def refusal(
    access: int, caller: Caller, metadata: Mapping[str, Any], security: GrpcSecurity
) -> tuple[grpc.StatusCode, str] | None:
    """Why the call is refused, or None when it may proceed."""
    if access == access_pb2.ACCESS_PUBLIC:
        return None
    if access == access_pb2.ACCESS_ADMIN:
        if security.admin_key.configured:
            if security.admin_key.matches(metadata.get(ADMIN_KEY_KEY)):
                return None
            return grpc.StatusCode.UNAUTHENTICATED, "missing or invalid admin key (x-admin-api-key)"
        if caller.service is not None:
            return None
        return grpc.StatusCode.PERMISSION_DENIED, "admin RPC: ADMIN_API_KEY is not configured here"
    if access == access_pb2.ACCESS_INTERNAL:
        if caller.service is not None:
            return None
        return grpc.StatusCode.PERMISSION_DENIED, "internal RPC: the caller is not a known service"
    return grpc.StatusCode.PERMISSION_DENIED, "this RPC declares no access"


class AccessInterceptor(UnaryHandlerInterceptor):
    def __init__(self, security: GrpcSecurity) -> None:
        super().__init__()
        self._security = security

    def _passes(self, method: str) -> bool:
        return method.startswith(_UNCHECKED_PREFIXES)

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        access = method_access(method)
        inner = handler.unary_unary
        if inner is None:  # checked by intercept_service
            return handler
        security = self._security

        def behavior(request: Any, context: grpc.ServicerContext) -> Any:
            metadata = dict(context.invocation_metadata() or ())
            caller = identify(context, metadata, security)
            refused = refusal(access, caller, metadata, security)
            if refused is not None:
                context.abort(*refused)
            if not caller.forwards_identity:
                context = _WithoutClientIdentity(context)  # type: ignore[assignment]
            return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class _WithoutClientIdentity:
    """The servicer context of a caller whose `x-client-*` metadata is not believed: the servicer sees
    the call without it (and falls back to the peer's address)."""

    def __init__(self, context: grpc.ServicerContext) -> None:
        self._context = context

    def invocation_metadata(self) -> tuple[Any, ...]:
        metadata = self._context.invocation_metadata() or ()
        return tuple(item for item in metadata if item[0] not in _CLIENT_IDENTITY_KEYS)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)
