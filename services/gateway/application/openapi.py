"""OpenAPI 3.1 for the routes, generated from the same descriptors as the route table.

The schemas say exactly what the translator accepts and what the renderer prints: proto field names,
no unknown properties, enums as their names, 64-bit integers printed as strings, every field without
presence always present in a response, `null` accepted for any request field (proto3 JSON: the
default). Error responses all share the google.rpc.Status shape.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from services.gateway.application.auth import TOKEN_PARAMETER, Access
from services.gateway.application.contracts import enum_of, is_map, message_of, real_oneofs
from services.gateway.application.dispatch import LocalRoute, Route, UpstreamRoute
from services.gateway.application.json_values import (
    FLOAT32_MAX,
    INT_RANGES,
    SIXTY_FOUR_BIT,
    WRAPPER_TYPES,
)
from services.gateway.application.links import LinkRoute, link_operation
from services.gateway.application.routing import PathTemplate

F = FieldDescriptor
INPUT, OUTPUT = "input", "output"
_SCHEMAS = "#/components/schemas/"
_TIMESTAMP_PATTERN = (
    r"^([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)
_RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": ("integer", "Quota of the tightest policy of this route"),
    "X-RateLimit-Remaining": ("integer", "Requests left under the tightest policy"),
    "X-RateLimit-Reset": ("integer", "When the tightest policy has room again, in epoch seconds"),
    "RateLimit-Policy": ("string", "The route's policies (draft-ietf-httpapi-ratelimit-headers-10)"),
    "RateLimit": ("string", "Remaining quota and seconds to reset per policy (same draft)"),
}
_ERRORS = {
    "400": "Invalid request: the message and google.rpc.BadRequest details name the field",
    "401": "Missing or wrong X-ADMIN-API-KEY",
    "403": "Admin routes disabled, or a token that does not match the email",
    "404": "Not found",
    "413": "Request body larger than MAX_BODY_BYTES",
    "415": "Request body that is not JSON, or a body on a route that takes none",
    "429": "Rate limit exceeded; Retry-After says when to try again",
    "500": "Internal error",
    "503": "The upstream service is unavailable",
    "504": "The upstream service did not answer in time",
}


class SchemaBuilder:
    def __init__(self, output_messages: set[str]) -> None:
        self.components: dict[str, Any] = {}
        self._outputs = output_messages

    def ref(self, message: Descriptor, mode: str) -> dict[str, Any]:
        name = message.full_name
        if mode == INPUT and name in self._outputs:
            name += "Input"
        if name not in self.components:
            self.components[name] = {}  # placeholder first: messages may refer to themselves
            self.components[name] = self.message(message, mode)
        return {"$ref": _SCHEMAS + name}

    def message(self, message: Descriptor, mode: str, skip: Iterable[str] = ()) -> dict[str, Any]:
        skipped = set(skip)
        fields = [f for f in message.fields if f.name not in skipped]
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {f.name: self.field(f, mode) for f in fields},
            "additionalProperties": False,
        }
        if mode == OUTPUT:
            required = [f.name for f in fields if not f.has_presence]
            if required:
                schema["required"] = required
        else:
            groups = {group for group in real_oneofs(message).values() if len(group) > 1}
            exclusions = [
                {
                    "not": {
                        "required": list(pair),
                        "properties": {name: {"not": {"type": "null"}} for name in pair},
                    }
                }
                for group in sorted(groups)
                for pair in itertools.combinations(group, 2)
            ]
            if exclusions:
                schema["allOf"] = exclusions
        return schema

    def field(self, field: FieldDescriptor, mode: str) -> dict[str, Any]:
        if is_map(field):
            value = message_of(field).fields_by_name["value"]
            schema: dict[str, Any] = {"type": "object", "additionalProperties": self.single(value, mode)}
        elif field.is_repeated:
            schema = {"type": "array", "items": self.single(field, mode)}
        else:
            schema = self.single(field, mode)
        return _nullable(schema) if mode == INPUT else schema

    def single(self, field: FieldDescriptor, mode: str) -> dict[str, Any]:
        kind = field.type
        if kind == F.TYPE_STRING:
            return {"type": "string"}
        if kind == F.TYPE_BYTES:
            return {"type": "string", "format": "byte"}
        if kind == F.TYPE_BOOL:
            return {"type": "boolean"}
        if kind in INT_RANGES:
            low, high = INT_RANGES[kind]
            if kind in SIXTY_FOUR_BIT:
                text = {"type": "string", "pattern": "^-?[0-9]+$", "format": "int64" if low else "uint64"}
                if mode == OUTPUT:
                    return text  # json_format prints 64-bit integers as strings
                return {
                    "type": ["integer", "string"],
                    "pattern": "^-?[0-9]+$",
                    "minimum": low,
                    "maximum": high,
                }
            return {"type": "integer", "format": "int32" if low else "int64", "minimum": low, "maximum": high}
        if kind == F.TYPE_DOUBLE:
            return {"type": "number", "format": "double"}
        if kind == F.TYPE_FLOAT:
            return {"type": "number", "format": "float", "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}
        if kind == F.TYPE_ENUM:
            return {"type": "string", "enum": [value.name for value in enum_of(field).values]}
        return self.well_known(field, mode)

    def well_known(self, field: FieldDescriptor, mode: str) -> dict[str, Any]:
        message = message_of(field)
        name = message.full_name
        if name == "google.protobuf.Timestamp":
            return {"type": "string", "format": "date-time", "pattern": _TIMESTAMP_PATTERN}
        if name == "google.protobuf.Duration":
            return {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"}
        if name == "google.protobuf.FieldMask":
            return {"type": "string"}
        if name in WRAPPER_TYPES:
            return self.single(message.fields_by_name["value"], mode)
        if name == "google.protobuf.Struct":
            return {"type": "object"}
        if name == "google.protobuf.ListValue":
            return {"type": "array"}
        if name == "google.protobuf.Value":
            return {}
        if name == "google.protobuf.Any":
            return {"type": "object", "properties": {"@type": {"type": "string"}}, "required": ["@type"]}
        return self.ref(message, mode)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema or not schema or "type" not in schema:
        return {"anyOf": [schema, {"type": "null"}]} if schema else schema
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    nullable = {**schema, "type": [*types, "null"]}
    if "enum" in schema:
        nullable["enum"] = [*schema["enum"], None]
    return nullable


def _output_messages(routes: Iterable[UpstreamRoute]) -> set[str]:
    found: set[str] = set()

    def visit(message: Descriptor) -> None:
        if message.full_name in found:
            return
        found.add(message.full_name)
        for field in message.fields:
            if field.message_type is not None:
                visit(field.message_type)

    for route in routes:
        visit(route.binding.method.output_type)
    return found


def openapi_document(entries: Iterable[tuple[str, PathTemplate, Route]], *, title: str, version: str) -> dict:
    entries = list(entries)
    upstream = [route for _, _, route in entries if isinstance(route, UpstreamRoute)]
    schemas = SchemaBuilder(_output_messages(upstream))
    schemas.components["google.rpc.Status"] = _status_schema()
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for method, template, route in sorted(entries, key=lambda e: (e[1].text, e[0])):
        if isinstance(route, LocalRoute):
            operation = _local_operation(route)
        elif isinstance(route, LinkRoute):
            operation = link_operation(method, route)
        else:
            operation = _upstream_operation(method, template, route, schemas)
        base_id = operation["operationId"]
        operation["operationId"] = next(
            candidate
            for candidate in itertools.chain([base_id], (f"{base_id}_{n}" for n in itertools.count(2)))
            if candidate not in operation_ids
        )
        operation_ids.add(operation["operationId"])
        paths.setdefault(template.openapi_path, {})[method.lower()] = operation
    responses = {
        status: {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": _SCHEMAS + "google.rpc.Status"}}},
        }
        for status, description in _ERRORS.items()
    }
    responses["429"]["headers"] = _headers(
        {**_RATE_LIMIT_HEADERS, "Retry-After": ("integer", "Seconds until a request may succeed")}
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Generated at start from the google.api.http annotations of the gRPC contracts.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "responses": responses,
            "securitySchemes": {
                "adminApiKey": {"type": "apiKey", "in": "header", "name": "X-ADMIN-API-KEY"},
                "emailToken": {
                    "type": "apiKey",
                    "in": "query",
                    "name": TOKEN_PARAMETER,
                    "description": "Lower-case hex HMAC-SHA256 of the normalised email, keyed with "
                    "UNSUBSCRIBE_SECRET",
                },
            },
        },
    }


def _upstream_operation(
    method: str, template: PathTemplate, route: UpstreamRoute, schemas: SchemaBuilder
) -> dict:
    binding = route.binding
    translator = route.translator
    service = binding.method.containing_service
    operation: dict[str, Any] = {
        "operationId": f"{service.name}_{binding.method.name}",
        "summary": f"{service.full_name}/{binding.method.name}",
        "tags": [binding.service_key],
    }
    parameters = []
    for name, field in translator.path_fields.items():
        schema = schemas.single(field, INPUT)
        if schema.get("type") == "string" and "pattern" not in schema:
            schema = {**schema, "minLength": 1}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, field in translator.query_fields.items():
        schema = schemas.single(field, INPUT)
        if field.is_repeated:
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "style": "form",
                    "explode": True,
                    "schema": {"type": "array", "items": schema},
                }
            )
        else:
            parameters.append({"name": name, "in": "query", "required": False, "schema": schema})
    if parameters:
        operation["parameters"] = parameters
    if translator.takes_body:
        if binding.body == "*":
            path_fields = set(translator.path_fields)
            if path_fields:
                body_schema = schemas.message(binding.method.input_type, INPUT, skip=path_fields)
            else:
                body_schema = schemas.ref(binding.method.input_type, INPUT)
        else:
            body_schema = schemas.field(binding.method.input_type.fields_by_name[binding.body], INPUT)
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body_schema}},
        }
    output = binding.method.output_type
    if binding.response_body:
        response_schema = schemas.field(output.fields_by_name[binding.response_body], OUTPUT)
    else:
        response_schema = schemas.ref(output, OUTPUT)
    limited = bool(route.policy.rate_policies)
    success: dict[str, Any] = {
        "description": "OK",
        "content": {"application/json": {"schema": response_schema}},
    }
    if limited:
        success["headers"] = _headers(_RATE_LIMIT_HEADERS)
    statuses = ["400", "404", "500", "503", "504"]
    if method != "GET":
        statuses.append("415")
    if translator.takes_body:
        statuses.append("413")
    if route.policy.access is not Access.PUBLIC:
        statuses += ["401", "403"]
        security: list[dict] = [{"adminApiKey": []}]
        if route.policy.access is Access.ADMIN_OR_EMAIL_TOKEN:
            security.append({"emailToken": []})
        operation["security"] = security
    responses: dict[str, Any] = {"200": success}
    if limited:
        statuses.append("429")
    for status in sorted(statuses):
        responses[status] = {"$ref": f"#/components/responses/{status}"}
    responses["default"] = {
        "description": "Any other upstream status, mapped as grpc-gateway maps it",
        "content": {"application/json": {"schema": {"$ref": _SCHEMAS + "google.rpc.Status"}}},
    }
    operation["responses"] = responses
    return operation


def _local_operation(route: LocalRoute) -> dict:
    schema: dict[str, Any] = {"type": "object"}
    if route.name == "Health":
        schema = {
            "type": "object",
            "properties": {"status": {"type": "string", "enum": ["ok"]}},
            "required": ["status"],
        }
    responses: dict[str, Any] = {
        "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
    }
    if route.name == "DeepHealth":
        responses["503"] = {
            "description": "Something is down: the `down` list names it",
            "content": {"application/json": {"schema": schema}},
        }
    return {
        "operationId": f"Gateway_{route.name}",
        "summary": route.name,
        "tags": ["gateway"],
        "responses": responses,
    }


def _headers(headers: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {
        name: {"description": description, "schema": {"type": kind}}
        for name, (kind, description) in headers.items()
    }


def _status_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "google.rpc.Status as JSON",
        "properties": {
            "code": {"type": "integer", "description": "gRPC status code number"},
            "message": {"type": "string"},
            "details": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"@type": {"type": "string"}},
                    "required": ["@type"],
                },
            },
        },
        "required": ["code", "message", "details"],
        "additionalProperties": False,
    }
