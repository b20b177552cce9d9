"""The request rules a field declares in its contract, as JSON Schema keywords for the OpenAPI document.

`google.api.field_behavior = REQUIRED` makes a property required (and not null); `buf.validate` rules
(the ones protovalidate checks) become minimum/maximum, minLength/maxLength, pattern, format and a
narrower enum. A rule on a repeated field's items applies to each item.
"""

from __future__ import annotations

from typing import Any

from google.api import field_behavior_pb2
from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor

from buf.validate import validate_pb2

# protoc's .pyi types an extension as a plain FieldDescriptor, which the Extensions map does not take.
_FIELD_RULES: Any = validate_pb2.field
_RANGE_KINDS = ("int32", "int64", "uint32", "uint64", "sint32", "sint64", "double", "float")


def is_required(field: FieldDescriptor) -> bool:
    behaviors = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    return field_behavior_pb2.REQUIRED in behaviors


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
