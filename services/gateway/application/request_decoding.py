"""An RPC's request message from an HTTP request: the path variables, the query string and the JSON
body, each checked field by field (services.gateway.application.json_values) so that a 400 names every
field it cannot accept."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from services.gateway.application.contracts import HttpBinding, is_map
from services.gateway.application.errors import Violation, bad_request
from services.gateway.application.json_body import JSON_DECODER, DuplicateKey
from services.gateway.application.json_values import (
    STRING_FORM_TYPES,
    WRAPPER_TYPES,
    check_message,
    json_kind,
    text_value,
)


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
        raise bad_request([Violation("body", f"expected a JSON object, got {json_kind(document)}")])
    try:
        json_format.ParseDict(document, message)
    except (json_format.ParseError, ValueError, TypeError) as error:
        # Only what the checks above cannot see gets here (e.g. the content of a google.protobuf.Any).
        raise bad_request([Violation("body", f"cannot be converted: {str(error).splitlines()[0]}")]) from None
