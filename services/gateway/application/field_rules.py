"""The request rules a field declares in its contract, as JSON Schema keywords for the OpenAPI document.

`google.api.field_behavior = REQUIRED` makes a property required (and not null); `buf.validate` rules
(the ones protovalidate checks) become minimum/maximum, minLength/maxLength, pattern, format and a
narrower enum (`string.in` an enum of strings); `(novahouse.api.v1.email_address)` becomes
`format: email` (an optional one may also be empty), `(novahouse.api.v1.requires)` a `not` that
refuses the field set without the one it names. A rule on a repeated field's items applies to each
item. Text without a pattern of its own gets the pattern of what every service accepts in text: no
control characters (services/runtime/control_characters.py).
"""

from __future__ import annotations

from typing import Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor

from buf.validate import validate_pb2
from novahouse.api.v1 import fields_pb2
from services.runtime.control_characters import CONTROL_CHARACTERS

# protoc's .pyi types an extension as a plain FieldDescriptor, which the Extensions map does not take.
_FIELD_RULES: Any = validate_pb2.field
_EMAIL_ADDRESS: Any = fields_pb2.email_address
_REQUIRES: Any = fields_pb2.requires
TEXT_PATTERN = f"^[^{CONTROL_CHARACTERS}]*$"
_RANGE_KINDS = ("int32", "int64", "uint32", "uint64", "sint32", "sint64", "double", "float")


def is_required(field: FieldDescriptor) -> bool:
    behaviors = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    return field_behavior_pb2.REQUIRED in behaviors


def is_email_address(field: FieldDescriptor) -> bool:
    return bool(field.GetOptions().Extensions[_EMAIL_ADDRESS])


def email_schema(schema: dict[str, Any], field: FieldDescriptor) -> dict[str, Any]:
    """An email field's schema: `format: email`, or empty as well when the field is optional."""
    if is_required(field):
        return {**schema, "format": "email"}
    return {**schema, "anyOf": [{"format": "email"}, {"maxLength": 0}]}


def text_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A string schema with no pattern, format or enum of its own: no control characters."""
    if schema.get("type") != "string" or {"pattern", "format", "enum", "anyOf"} & set(schema):
        return schema
    return {**schema, "pattern": TEXT_PATTERN}


def requirement(field: FieldDescriptor) -> str:
    """The field `(novahouse.api.v1.requires)` names: set with this one; '' for none."""
    return str(field.GetOptions().Extensions[_REQUIRES])


def dependency(field: FieldDescriptor, required: str) -> dict[str, Any]:
    """A request with `field` set and `required` absent, null or empty is not one to send."""
    missing = {"anyOf": [{"type": "null"}, {"maxLength": 0}]}
    return {
        "not": {
            "required": [field.name],
            "properties": {field.name: {"not": {"type": "null"}}, required: missing},
        }
    }


def item_rules(field: FieldDescriptor) -> validate_pb2.FieldRules | None:
    """The rules each value of the field must meet (a repeated field's: its items'), if any."""
    options = field.GetOptions()
    if not options.HasExtension(_FIELD_RULES):
        return None
    rules: validate_pb2.FieldRules = options.Extensions[_FIELD_RULES]
    if rules.WhichOneof("type") == "repeated":
        return rules.repeated.items if rules.repeated.HasField("items") else None
    return rules


def constrained(schema: dict[str, Any], rules: validate_pb2.FieldRules, enum: EnumDescriptor | None) -> dict:
    """`schema` narrowed by `rules`; never wider than it was."""
    kind = rules.WhichOneof("type")
    narrowed = dict(schema)
    if kind == "string":
        text = rules.string
        if text.HasField("min_len"):
            narrowed["minLength"] = text.min_len
        if text.HasField("max_len"):
            narrowed["maxLength"] = text.max_len
        if text.HasField("pattern"):
            narrowed["pattern"] = text.pattern
        if text.HasField("email"):
            narrowed["format"] = "email"
        if text.HasField("len"):
            narrowed["minLength"] = narrowed["maxLength"] = text.len
        if getattr(text, "in"):
            narrowed["enum"] = list(getattr(text, "in"))
        if rules.required and narrowed.get("minLength", 0) < 1:
            narrowed["minLength"] = 1
    elif kind in _RANGE_KINDS:
        numbers = getattr(rules, kind)
        if numbers.HasField("gte"):
            narrowed["minimum"] = max(numbers.gte, schema.get("minimum", numbers.gte))
        if numbers.HasField("lte"):
            narrowed["maximum"] = min(numbers.lte, schema.get("maximum", numbers.lte))
        if numbers.HasField("gt"):
            narrowed["exclusiveMinimum"] = numbers.gt
        if numbers.HasField("lt"):
            narrowed["exclusiveMaximum"] = numbers.lt
    elif kind == "enum" and enum is not None and "enum" in schema:
        allowed = set(getattr(rules.enum, "in")) or {v.number for v in enum.values}
        allowed -= set(rules.enum.not_in)
        narrowed["enum"] = [v.name for v in enum.values if v.number in allowed]
    return narrowed
