"""JSON values ⇄ protobuf field values, as the proto3 JSON mapping defines them.

Decoded JSON is checked against a message descriptor before `json_format` sees it, so that every
unknown field, wrong JSON type, out-of-range number or unknown enum name becomes a Violation naming the
field (json_format's own messages are Python-flavoured and stop at the first problem). The checks are as
strict as the OpenAPI schemas generated from the same descriptors: proto field names only, enums by
name, integers as JSON numbers (64-bit ones also as decimal strings, the way json_format prints them).
`null` leaves a field at its default, as the proto3 JSON mapping says.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from google.protobuf import duration_pb2, json_format, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from services.gateway.application.contracts import enum_of, is_map, message_of, real_oneofs
from services.gateway.application.errors import Violation

F = FieldDescriptor
MAX_DEPTH = 32
INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}
SIXTY_FOUR_BIT = {F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64, F.TYPE_UINT64, F.TYPE_FIXED64}
FLOAT32_MAX = 3.4028234663852886e38
# Well-known types whose JSON form is one string.
STRING_FORM_TYPES = {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
WRAPPER_TYPES = {
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
}
_INTEGER_TEXT = re.compile(r"^-?[0-9]+$")


def json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def check_message(
    value: object, message: Descriptor, path: str, out: list[Violation], depth: int = 0
) -> None:
    """Appends a Violation for everything in `value` (decoded JSON) that `message` cannot hold."""
    if depth > MAX_DEPTH:
        out.append(Violation(path or "body", "is nested too deeply"))
        return
    if not isinstance(value, dict):
        out.append(Violation(path or "body", f"expected a JSON object, got {json_kind(value)}"))
        return
    fields = message.fields_by_name
    oneofs = real_oneofs(message)
    chosen: dict[tuple[str, ...], str] = {}
    for key, item in value.items():
        name = f"{path}.{key}" if path else key
        field = fields.get(key)
        if field is None:
            out.append(Violation(name, "unknown field"))
            continue
        if item is None:
            continue
        group = oneofs.get(key)
        if group is not None:
            first = chosen.setdefault(group, key)
            if first != key:
                out.append(
                    Violation(name, f"cannot be set together with {first} (one of {', '.join(group)})")
                )
                continue
        check_field(item, field, name, out, depth)


def check_field(value: object, field: FieldDescriptor, path: str, out: list[Violation], depth: int) -> None:
    if is_map(field):
        if not isinstance(value, dict):
            out.append(Violation(path, f"expected a JSON object, got {json_kind(value)}"))
            return
        key_field = message_of(field).fields_by_name["key"]
        value_field = message_of(field).fields_by_name["value"]
        for key, item in value.items():
            if key_field.type == F.TYPE_BOOL and key not in ("true", "false"):
                out.append(Violation(f"{path}.{key}", "map key must be true or false"))
            elif key_field.type in INT_RANGES and not _integer_text_in_range(key, key_field.type):
                out.append(Violation(f"{path}.{key}", "map key must be an integer"))
            elif item is None:
                out.append(Violation(f"{path}.{key}", "must not be null"))
            else:
                check_single(item, value_field, f"{path}.{key}", out, depth)
        return
    if field.is_repeated:
        if not isinstance(value, list):
            out.append(Violation(path, f"expected a JSON array, got {json_kind(value)}"))
            return
        for index, item in enumerate(value):
            if item is None:
                out.append(Violation(f"{path}[{index}]", "must not be null"))
            else:
                check_single(item, field, f"{path}[{index}]", out, depth)
        return
    check_single(value, field, path, out, depth)


def check_single(value: object, field: FieldDescriptor, path: str, out: list[Violation], depth: int) -> None:
    """One non-repeated value of `field`'s type."""
    kind = field.type
    if kind == F.TYPE_STRING:
        if not isinstance(value, str):
            out.append(Violation(path, f"expected a string, got {json_kind(value)}"))
    elif kind == F.TYPE_BOOL:
        if not isinstance(value, bool):
            out.append(Violation(path, f"expected true or false, got {json_kind(value)}"))
    elif kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        number = _as_integer(value, kind in SIXTY_FOUR_BIT)
        if number is None or not low <= number <= high:
            out.append(Violation(path, f"expected an integer from {low} to {high}"))
    elif kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        limit = FLOAT32_MAX if kind == F.TYPE_FLOAT else math.inf
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or abs(value) > limit
        ):
            out.append(Violation(path, f"expected a number, got {json_kind(value)}"))
    elif kind == F.TYPE_ENUM:
        names = enum_of(field).values_by_name
        if not isinstance(value, str) or value not in names:
            out.append(Violation(path, "expected one of " + ", ".join(names)))
    elif kind == F.TYPE_BYTES:
        if not isinstance(value, str) or not _is_base64(value):
            out.append(Violation(path, "expected base64-encoded bytes"))
    elif kind == F.TYPE_MESSAGE:
        _check_message_value(value, message_of(field), path, out, depth)


def _check_message_value(
    value: object, message: Descriptor, path: str, out: list[Violation], depth: int
) -> None:
    name = message.full_name
    if name == "google.protobuf.Timestamp":
        if not (isinstance(value, str) and _parses(timestamp_pb2.Timestamp(), value)):
            out.append(Violation(path, "expected an RFC 3339 timestamp such as 2026-01-31T12:00:00Z"))
    elif name == "google.protobuf.Duration":
        if not (isinstance(value, str) and _parses(duration_pb2.Duration(), value)):
            out.append(Violation(path, "expected a duration in seconds such as 1.5s"))
    elif name == "google.protobuf.FieldMask":
        if not isinstance(value, str):
            out.append(Violation(path, f"expected a string, got {json_kind(value)}"))
    elif name in WRAPPER_TYPES:
        check_single(value, message.fields_by_name["value"], path, out, depth)
    elif name in ("google.protobuf.Value", "google.protobuf.Any"):
        return  # any JSON value; an Any's content is left to json_format
    elif name == "google.protobuf.Struct":
        if not isinstance(value, dict):
            out.append(Violation(path, f"expected a JSON object, got {json_kind(value)}"))
    elif name == "google.protobuf.ListValue":
        if not isinstance(value, list):
            out.append(Violation(path, f"expected a JSON array, got {json_kind(value)}"))
    else:
        check_message(value, message, path, out, depth + 1)


def _as_integer(value: object, sixty_four_bit: bool) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if sixty_four_bit and isinstance(value, str) and _INTEGER_TEXT.match(value):
        return int(value)
    return None


def _integer_text_in_range(text: str, kind: int) -> bool:
    low, high = INT_RANGES[kind]
    return bool(_INTEGER_TEXT.match(text)) and low <= int(text) <= high


def _is_base64(text: str) -> bool:
    """Standard or URL-safe alphabet, padding optional (what json_format accepts)."""
    try:
        data = (text + "=" * (-len(text) % 4)).encode("ascii")
    except UnicodeEncodeError:
        return False
    for alternative_characters in (None, b"-_"):
        try:
            base64.b64decode(data, altchars=alternative_characters, validate=True)
            return True
        except binascii.Error:
            continue
    return False


def _parses(message: Any, text: str) -> bool:
    try:
        message.FromJsonString(text)
    except ValueError:
        return False
    return True


def text_value(text: str, field: FieldDescriptor) -> object:
    """A path or query parameter's text as the JSON value `field` takes; raises ValueError."""
    kind = field.type
    if kind == F.TYPE_MESSAGE and message_of(field).full_name in WRAPPER_TYPES:
        return text_value(text, message_of(field).fields_by_name["value"])
    if kind == F.TYPE_BOOL:
        if text not in ("true", "false"):
            raise ValueError("expected true or false")
        return text == "true"
    if kind in INT_RANGES:
        if not _INTEGER_TEXT.match(text):
            raise ValueError(f"expected an integer from {INT_RANGES[kind][0]} to {INT_RANGES[kind][1]}")
        return int(text)
    if kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        try:
            return float(text)
        except ValueError:
            raise ValueError("expected a number") from None
    return text


def message_to_json(message: Message) -> dict[str, Any]:
    """A message as a JSON object: proto field names, fields with default values printed."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
