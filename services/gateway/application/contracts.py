"""The HTTP bindings the contracts declare: every RPC with a `google.api.http` annotation.

Nothing here names a service: the bindings come from whatever file descriptors are given, so a new
annotated RPC, or a new service `novahouse.<name>.v1` with its `<NAME>_ADDR`, is reachable over HTTP
without touching the gateway.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import (
    Descriptor,
    EnumDescriptor,
    FieldDescriptor,
    FileDescriptor,
    MethodDescriptor,
)

from novahouse.api.v1 import access_pb2
from services.runtime.access import access_name, declared_access

_HTTP_METHODS = ("get", "put", "post", "delete", "patch")
_VERSION = re.compile(r"^v\d+[a-z0-9]*$")


class ContractError(ValueError):
    """An annotation the gateway cannot serve; raised at start, never per request."""


@dataclass(frozen=True)
class HttpBinding:
    """One HTTP route of one RPC, as its annotation declares it."""

    service_key: str  # "consent": names the `CONSENT_ADDR` variable
    method: MethodDescriptor
    http_method: str  # "GET", "POST", ...
    path_template: str  # "/api/unsubscribe/status/{email}"
    body: str  # "" (no body), "*" (the whole request) or one top-level field
    response_body: str  # "" (the whole response) or one top-level field
    access: int = access_pb2.ACCESS_PUBLIC  # the RPC's (novahouse.api.v1.access) option

    @property
    def rpc_name(self) -> str:
        """'novahouse.consent.v1.ConsentService.Unsubscribe'"""
        return self.method.full_name

    @property
    def rpc_path(self) -> str:
        """'/novahouse.consent.v1.ConsentService/Unsubscribe', the gRPC method path."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"


def service_key(package: str) -> str:
    """'novahouse.consent.v1' -> 'consent'; the version and the 'novahouse' root are dropped."""
    parts = [p for p in package.split(".")[1:] if not _VERSION.match(p)]
    if not parts:
        raise ContractError(f"package {package!r} does not name a service")
    return "_".join(parts)


def http_bindings(files: Iterable[FileDescriptor]) -> list[HttpBinding]:
    """Every annotated RPC of the given files, including `additional_bindings`."""
    bindings = []
    for file in files:
        for service in file.services_by_name.values():
            for method in service.methods:
                options = method.GetOptions()
                if not options.HasExtension(annotations_pb2.http):
                    continue
                if method.client_streaming or method.server_streaming:
                    raise ContractError(f"{method.full_name}: streaming RPCs cannot have HTTP routes")
                access = published_access(method)
                rule = options.Extensions[annotations_pb2.http]
                key = service_key(file.package)
                for each in (rule, *rule.additional_bindings):
                    bindings.append(binding_from_rule(key, method, each, access))
    return bindings


def published_access(method: MethodDescriptor) -> int:
    """The access class of an RPC with an HTTP route: PUBLIC or ADMIN; anything else stops the
    gateway at start, so a route is never published by default."""
    access = declared_access(method)
    if access == access_pb2.ACCESS_UNSPECIFIED:
        raise ContractError(
            f"{method.full_name}: an HTTP route needs an (novahouse.api.v1.access) option, PUBLIC or ADMIN"
        )
    if access not in (access_pb2.ACCESS_PUBLIC, access_pb2.ACCESS_ADMIN):
        raise ContractError(f"{method.full_name}: {access_name(access)} RPCs cannot have an HTTP route")
    return access


def binding_from_rule(
    key: str, method: MethodDescriptor, rule: http_pb2.HttpRule, access: int = access_pb2.ACCESS_PUBLIC
) -> HttpBinding:
    pattern = rule.WhichOneof("pattern")
    if pattern == "custom":
        http_method, path = rule.custom.kind.upper(), rule.custom.path
    elif pattern in _HTTP_METHODS:
        http_method, path = pattern.upper(), getattr(rule, pattern)
    else:
        raise ContractError(f"{method.full_name}: HTTP annotation without a method and path")
    for name, value in (("body", rule.body), ("response_body", rule.response_body)):
        message = method.input_type if name == "body" else method.output_type
        if value not in ("", "*") and value not in message.fields_by_name:
            raise ContractError(f"{method.full_name}: {name} names unknown field {value!r}")
    if rule.response_body == "*":
        raise ContractError(f"{method.full_name}: response_body must name a field")
    if http_method == "GET" and rule.body:
        raise ContractError(f"{method.full_name}: a GET route cannot take a body")
    return HttpBinding(key, method, http_method, path, rule.body, rule.response_body, access)


def message_of(field: FieldDescriptor) -> Descriptor:
    """The message type of a message-typed field (maps included)."""
    if field.message_type is None:
        raise TypeError(f"{field.full_name} is not a message field")
    return field.message_type


def enum_of(field: FieldDescriptor) -> EnumDescriptor:
    """The enum type of an enum-typed field."""
    if field.enum_type is None:
        raise TypeError(f"{field.full_name} is not an enum field")
    return field.enum_type


def is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


@functools.cache
def real_oneofs(message: Descriptor) -> dict[str, tuple[str, ...]]:
    """Field name -> the fields of its oneof, for real oneofs only (proto3 `optional` fields sit in
    synthetic one-field oneofs that are not choices)."""
    proto = descriptor_pb2.DescriptorProto()
    message.CopyToProto(proto)
    synthetic = {field.name for field in proto.field if field.proto3_optional}
    members: dict[str, tuple[str, ...]] = {}
    for oneof in message.oneofs:
        names = tuple(f.name for f in oneof.fields if f.name not in synthetic)
        for name in names:
            members[name] = names
    return members
