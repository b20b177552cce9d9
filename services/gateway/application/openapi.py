"""OpenAPI 3.1 for the routes, generated from the same descriptors as the route table.

The schemas say exactly what the translator accepts and what the renderer prints: proto field names,
no unknown properties, enums as their names, 64-bit integers printed as strings, every field without
presence always present in a response, `null` accepted for any request field (proto3 JSON: the
default). Error responses all share the google.rpc.Status shape.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any, cast

from google.protobuf.descriptor import Descriptor

from novahouse.privacy.v1 import privacy_pb2
from services.gateway.application.auth import TOKEN_PARAMETER, Access
from services.gateway.application.field_rules import is_required
from services.gateway.application.http import LocalRoute, Route, UpstreamRoute
from services.gateway.application.links import LinkRoute, link_operation
from services.gateway.application.openapi_schemas import (
    INPUT,
    OUTPUT,
    SCHEMAS,
    SchemaBuilder,
    output_messages,
)
from services.gateway.application.request_decoding import RequestTranslator
from services.gateway.application.routing import PathTemplate

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


def openapi_document(entries: Iterable[tuple[str, PathTemplate, Route]], *, title: str, version: str) -> dict:
    entries = list(entries)
    upstream = [route for _, _, route in entries if isinstance(route, UpstreamRoute)]
    schemas = SchemaBuilder(output_messages(route.binding.method.output_type for route in upstream))
    schemas.components["google.rpc.Status"] = _status_schema()
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for method, template, route in sorted(entries, key=lambda e: (e[1].text, e[0])):
        if isinstance(route, LocalRoute):
            operation = _local_operation(route, schemas)
        elif isinstance(route, LinkRoute):
            token = route.binding.method.input_type.fields_by_name["token"]
            operation = link_operation(method, route, schemas.single(token, INPUT))
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
            "content": {"application/json": {"schema": {"$ref": SCHEMAS + "google.rpc.Status"}}},
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
                    "description": "`<expiry>.<signature>`: the expiry in Unix seconds and the hex "
                    "HMAC-SHA256 of `status:<expiry>:<normalised email>` keyed with UNSUBSCRIBE_SECRET "
                    "(`python -m services.gateway status-token EMAIL`)",
                },
            },
        },
    }


def _upstream_operation(
    method: str, template: PathTemplate, route: UpstreamRoute, schemas: SchemaBuilder
) -> dict:
    binding = route.binding
    service = binding.method.containing_service
    operation: dict[str, Any] = {
        "operationId": f"{service.name}_{binding.method.name}",
        "summary": f"{service.full_name}/{binding.method.name}",
        "tags": [binding.service_key],
    }
    parameters = _parameters(route.translator, schemas)
    if parameters:
        operation["parameters"] = parameters
    if route.translator.takes_body:
        operation["requestBody"] = {
            "required": _body_required(route),
            "content": {"application/json": {"schema": _request_body_schema(route, schemas)}},
        }
    security = _security(route.policy.access)
    if security:
        operation["security"] = security
    responses: dict[str, Any] = {"200": _success_response(route, schemas)}
    for status in _error_statuses(method, route):
        responses[status] = {"$ref": f"#/components/responses/{status}"}
    responses["default"] = {
        "description": "Any other upstream status, mapped as grpc-gateway maps it",
        "content": {"application/json": {"schema": {"$ref": SCHEMAS + "google.rpc.Status"}}},
    }
    operation["responses"] = responses
    return operation


def _parameters(translator: RequestTranslator, schemas: SchemaBuilder) -> list[dict[str, Any]]:
    """The path variables (required, never empty), then the query parameters (repeated ones exploded)."""
    parameters = []
    for name, field in translator.path_fields.items():
        schema = schemas.single(field, INPUT)
        if schema.get("type") == "string" and "pattern" not in schema:
            schema = {**schema, "minLength": 1}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    for name, field in translator.query_fields.items():
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": False}
        schema = schemas.single(field, INPUT)
        if field.is_repeated:
            parameter.update(style="form", explode=True, schema={"type": "array", "items": schema})
        else:
            parameter["schema"] = schema
        parameters.append(parameter)
    return parameters


def _body_required(route: UpstreamRoute) -> bool:
    """Whether the body must be sent: it carries a field the contract declares REQUIRED."""
    binding = route.binding
    request = binding.method.input_type
    if binding.body != "*":
        return is_required(request.fields_by_name[binding.body])
    return any(is_required(f) for f in request.fields if f.name not in route.translator.path_fields)


def _request_body_schema(route: UpstreamRoute, schemas: SchemaBuilder) -> dict[str, Any]:
    """`body: "*"`: the request message (less the fields bound to the path); else the named field."""
    binding = route.binding
    request = binding.method.input_type
    if binding.body != "*":
        return schemas.field(request.fields_by_name[binding.body], INPUT)
    path_fields = set(route.translator.path_fields)
    return schemas.message(request, INPUT, skip=path_fields) if path_fields else schemas.ref(request, INPUT)


def _success_response(route: UpstreamRoute, schemas: SchemaBuilder) -> dict[str, Any]:
    output = route.binding.method.output_type
    field = route.binding.response_body
    schema = schemas.field(output.fields_by_name[field], OUTPUT) if field else schemas.ref(output, OUTPUT)
    success: dict[str, Any] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    if route.policy.rate_policies:
        success["headers"] = _headers(_RATE_LIMIT_HEADERS)
    return success


def _security(access: Access) -> list[dict[str, list]]:
    """The credentials a route accepts; none for a public route."""
    if access is Access.PUBLIC:
        return []
    security: list[dict[str, list]] = [{"adminApiKey": []}]
    if access is Access.ADMIN_OR_EMAIL_TOKEN:
        security.append({"emailToken": []})
    return security


def _error_statuses(method: str, route: UpstreamRoute) -> list[str]:
    """The gateway's own error answers this route can give, sorted."""
    statuses = ["400", "404", "500", "503", "504"]
    if method != "GET":
        statuses.append("415")
    if route.translator.takes_body:
        statuses.append("413")
    if route.policy.access is not Access.PUBLIC:
        statuses += ["401", "403"]
    if route.policy.rate_policies:
        statuses.append("429")
    return sorted(statuses)


def _local_operation(route: LocalRoute, schemas: SchemaBuilder) -> dict:
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
    operation: dict[str, Any] = {
        "operationId": f"Gateway_{route.name}",
        "summary": route.name,
        "tags": ["gateway"],
        "responses": responses,
    }
    if route.name in _PRIVACY_ROUTES:
        # The privacy routes take the admin key and a JSON body, and name what is down in a 503.
        error = {"content": {"application/json": {"schema": {"$ref": SCHEMAS + "google.rpc.Status"}}}}
        for status in ("400", "401", "403", "413", "415", "503"):
            responses[status] = {"description": _ERRORS[status], **error}
        # The body is the request the gateway sends each service's PrivacyService, rules and all.
        body = schemas.ref(_PRIVACY_ROUTES[route.name], INPUT)
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation


# (the generated .pyi types DESCRIPTOR as the C++ or the Python descriptor; it is one of them)
_PRIVACY_ROUTES = {
    "PrivacyExport": cast(Descriptor, privacy_pb2.ExportPersonalDataRequest.DESCRIPTOR),
    "PrivacyErase": cast(Descriptor, privacy_pb2.ErasePersonalDataRequest.DESCRIPTOR),
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
