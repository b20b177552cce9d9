"""JSON Schemas of protobuf messages for the OpenAPI document: request schemas accept exactly what
request decoding accepts, response schemas describe exactly what rendering prints."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from services.gateway.application.contracts import enum_of, is_map, message_of, real_oneofs
from services.gateway.application.field_rules import (
    constrained,
    dependency,
    email_schema,
    is_email_address,
    is_required,
    item_rules,
    requirement,
    text_schema,
)
from services.gateway.application.json_values import (
    FLOAT32_MAX,
    INT_RANGES,
    SIXTY_FOUR_BIT,
    WRAPPER_TYPES,
)

F = FieldDescriptor
INPUT, OUTPUT = "input", "output"
SCHEMAS = "#/components/schemas/"
_TIMESTAMP_PATTERN = (
    r"^([1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)


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
        return {"$ref": SCHEMAS + name}

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
            required = [f.name for f in fields if is_required(f)]
            if required:
                schema["required"] = required
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
            exclusions += [dependency(f, requirement(f)) for f in fields if requirement(f)]
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
        return _nullable(schema) if mode == INPUT and not is_required(field) else schema

    def single(self, field: FieldDescriptor, mode: str) -> dict[str, Any]:
        """One value of the field; a request's narrowed by the rules its contract declares."""
        schema = self._single(field, mode)
        if mode != INPUT:
            return schema
        rules = item_rules(field)
        if rules is not None:
            schema = constrained(schema, rules, enum_of(field) if field.type == F.TYPE_ENUM else None)
        if is_email_address(field):
            schema = email_schema(schema, field)
        return text_schema(schema)

    def _single(self, field: FieldDescriptor, mode: str) -> dict[str, Any]:
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


def output_messages(responses: Iterable[Descriptor]) -> set[str]:
    """The full names of the response messages and of every message they contain."""
    found: set[str] = set()

    def visit(message: Descriptor) -> None:
        if message.full_name in found:
            return
        found.add(message.full_name)
        for field in message.fields:
            if field.message_type is not None:
                visit(field.message_type)

    for response in responses:
        visit(response)
    return found
