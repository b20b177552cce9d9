"""JSON ⇄ protobuf for one HTTP binding, through `google.protobuf.json_format`.

The request is checked against the message descriptor before `json_format` sees it, so that every
unknown field, wrong JSON type, out-of-range number or unknown enum name is a 400 whose message and
google.rpc.BadRequest name the field (json_format's own messages are Python-flavoured and stop at the
first problem). The checks are deliberately as strict as the OpenAPI schemas generated from the same
descriptors: proto field names only, enums by name, integers as JSON numbers (64-bit ones also as
decimal strings, the way json_format prints them). `null` leaves a field at its default, as the proto3
JSON mapping says.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from google.protobuf import duration_pb2, json_format, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from services.gateway.application.contracts import HttpBinding, enum_of, is_map, message_of, real_oneofs
from services.gateway.application.errors import Violation, bad_request
from services.gateway.application.json_body import JSON_DECODER, DuplicateKey
from services.gateway.application.json_values import message_to_json

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


def _json_kind(value: object) -> str:
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
        out.append(Violation(path or "body", f"expected a JSON object, got {_json_kind(value)}"))
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
            out.append(Violation(path, f"expected a JSON object, got {_json_kind(value)}"))
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
            out.append(Violation(path, f"expected a JSON array, got {_json_kind(value)}"))
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
            out.append(Violation(path, f"expected a string, got {_json_kind(value)}"))
    elif kind == F.TYPE_BOOL:
        if not isinstance(value, bool):
            out.append(Violation(path, f"expected true or false, got {_json_kind(value)}"))
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
            out.append(Violation(path, f"expected a number, got {_json_kind(value)}"))
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
            out.append(Violation(path, f"expected a string, got {_json_kind(value)}"))
    elif name in WRAPPER_TYPES:
        check_single(value, message.fields_by_name["value"], path, out, depth)
    elif name in ("google.protobuf.Value", "google.protobuf.Any"):
        return  # any JSON value; an Any's content is left to json_format
    elif name == "google.protobuf.Struct":
        if not isinstance(value, dict):
            out.append(Violation(path, f"expected a JSON object, got {_json_kind(value)}"))
    elif name == "google.protobuf.ListValue":
        if not isinstance(value, list):
            out.append(Violation(path, f"expected a JSON array, got {_json_kind(value)}"))
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


def query_parameters(message: Descriptor, excluded: set[str], prefix: str = "", depth: int = 0) -> dict:
    """Query parameter name -> field, for every field a query string can set: scalars, enums,
    repeated scalars and the well-known types with a string form, reached through nested messages by
    dotted names ('filter.status'). Fields bound to the path are excluded."""
    found: dict[str, FieldDescriptor] = {}
    for field in message.fields:
        name = prefix + field.name
        if name in excluded or is_map(field):
            continue
        nested = field.message_type
        if nested is not None and nested.full_name not in STRING_FORM_TYPES | WRAPPER_TYPES:
            if not field.is_repeated and depth < 4 and nested.full_name != message.full_name:
                found.update(query_parameters(nested, excluded, name + ".", depth + 1))
            continue
        found[name] = field
    return found


class RequestTranslator:
    """Builds one RPC's request from the path variables, the query string and the JSON body."""

    def __init__(self, binding: HttpBinding, path_fields: Sequence[str]) -> None:
        self.binding = binding
        self.request_class = GetMessageClass(binding.method.input_type)
        self.descriptor: Descriptor = binding.method.input_type
        self.takes_body = binding.body != ""
        self.path_fields = {name: _resolve_field(self.descriptor, name) for name in path_fields}
        if binding.body == "*":
            self.query_fields: dict[str, FieldDescriptor] = {}
        else:
            excluded = set(path_fields) | ({binding.body} if binding.body else set())
            self.query_fields = query_parameters(self.descriptor, excluded)

    def build(self, path: dict[str, str], query: Sequence[tuple[str, str]], body: bytes | None) -> Message:
        """The request message; raises GatewayError (400) naming every field it cannot accept."""
        violations: list[Violation] = []
        message = self.request_class()
        if self.takes_body and body:
            document = self._decode_body(body)
            if self.binding.body != "*":
                document = {self.binding.body: document}
            check_message(document, self.descriptor, "", violations)
            if violations:
                raise bad_request(violations)
            _parse(document, message)
        parameters = self._parameters(path, query, violations)
        if parameters:
            check_message(parameters, self.descriptor, "", violations)
            if violations:
                raise bad_request(violations)
            _parse(parameters, message)
        if violations:
            raise bad_request(violations)
        return message

    def _decode_body(self, body: bytes) -> object:
        try:
            return JSON_DECODER.decode(body.decode("utf-8"))  # RFC 8259 JSON is UTF-8
        except DuplicateKey as error:
            raise bad_request([Violation(error.key, "is given more than once")]) from None
        except RecursionError:
            raise bad_request([Violation("body", "is nested too deeply")]) from None
        except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, oversized integers
            raise bad_request([Violation("body", f"is not valid JSON: {error}")]) from None

    def _parameters(
        self, path: dict[str, str], query: Sequence[tuple[str, str]], violations: list[Violation]
    ) -> dict:
        tree: dict = {}
        seen: set[str] = set()
        for name, text in query:
            field = self.query_fields.get(name)
            if field is None:
                violations.append(Violation(name, "unknown query parameter"))
                continue
            if name in seen and not field.is_repeated:
                violations.append(Violation(name, "given more than once"))
                continue
            seen.add(name)
            self._assign(tree, name, text, field, violations)
        for name, text in path.items():
            self._assign(tree, name, text, self.path_fields[name], violations)
        return tree

    @staticmethod
    def _assign(
        tree: dict, name: str, text: str, field: FieldDescriptor, violations: list[Violation]
    ) -> None:
        try:
            value = text_value(text, field)
        except ValueError as error:
            violations.append(Violation(name, str(error)))
            return
        *parents, leaf = name.split(".")
        for parent in parents:
            tree = tree.setdefault(parent, {})
        if field.is_repeated:
            tree.setdefault(leaf, []).append(value)
        else:
            tree[leaf] = value


def _resolve_field(message: Descriptor, dotted: str) -> FieldDescriptor:
    """The field a path variable names; only non-repeated scalars and string-form types are allowed."""
    *parents, leaf = dotted.split(".")
    for parent in parents:
        field = message.fields_by_name.get(parent)
        if field is None or field.message_type is None or field.is_repeated:
            raise ValueError(f"{message.full_name} has no message field {parent!r} (path {dotted!r})")
        message = field.message_type
    field = message.fields_by_name.get(leaf)
    if field is None or field.is_repeated:
        raise ValueError(f"{message.full_name} has no single field {leaf!r} (path {dotted!r})")
    if (
        field.message_type is not None
        and field.message_type.full_name not in STRING_FORM_TYPES | WRAPPER_TYPES
    ):
        raise ValueError(f"path variable {dotted!r} names a message field")
    return field


def _parse(document: object, message: Message) -> None:
    if not isinstance(document, dict):  # check_message reported it already
        raise bad_request([Violation("body", f"expected a JSON object, got {_json_kind(document)}")])
    try:
        json_format.ParseDict(document, message)
    except (json_format.ParseError, ValueError, TypeError) as error:
        # Only what the checks above cannot see gets here (e.g. the content of a google.protobuf.Any).
        raise bad_request([Violation("body", f"cannot be converted: {str(error).splitlines()[0]}")]) from None


class ResponseRenderer:
    """A response message as JSON: proto field names, fields with default values printed."""

    def __init__(self, binding: HttpBinding) -> None:
        self._field = binding.response_body or None

    def render(self, message: Message) -> bytes:
        document = message_to_json(message)
        body = document if self._field is None else document.get(self._field)
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
