"""Hypothesis strategies that build protobuf messages from their descriptors, for any message type, and
a test-only message with every kind of field the gateway translates."""

from __future__ import annotations

import functools
import struct

from google.protobuf import descriptor_pb2, descriptor_pool, duration_pb2, timestamp_pb2, wrappers_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

from services.gateway.application.contracts import is_map
from services.gateway.application.json_values import INT_RANGES

F = FieldDescriptor
MAX_DEPTH = 2
# RFC 3339 years 0001 to 9999, as google.protobuf.Timestamp allows; Duration up to 10,000 years.
TIMESTAMP_SECONDS = (-62_135_596_800, 253_402_300_799)
DURATION_SECONDS = 315_576_000_000
BELOW_FLOAT32_MAX = struct.unpack("<f", struct.pack("<I", 0x7F7FFFFE))[0]
NANOS = st.integers(0, 999_999_999)
# Protobuf strings are UTF-8: no lone surrogates.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)


def scalar(field: FieldDescriptor) -> st.SearchStrategy:
    """Values of a non-message field as Python holds them."""
    kind = field.type
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        return st.integers(low, high)
    if kind == F.TYPE_FLOAT:
        # NaN and the infinities have no JSON number, and the gateway documents numbers only. The
        # largest float32 is left out: json_format prints it as 3.40282347e+38, a little above the
        # exact value, which the gateway's range check (and the OpenAPI maximum) then refuses.
        return st.floats(min_value=-BELOW_FLOAT32_MAX, max_value=BELOW_FLOAT32_MAX, width=32)
    if kind == F.TYPE_DOUBLE:
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == F.TYPE_BOOL:
        return st.booleans()
    if kind == F.TYPE_STRING:
        return TEXT
    if kind == F.TYPE_BYTES:
        return st.binary(max_size=20)
    if kind == F.TYPE_ENUM:
        return st.sampled_from([value.number for value in field.enum_type.values])
    raise AssertionError(f"not a scalar: {field.full_name}")


@functools.cache
def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of `descriptor`'s type with any subset of their fields set (oneofs: the last set member
    wins, as in protobuf itself), nested messages down to MAX_DEPTH."""
    name = descriptor.full_name
    if name == "google.protobuf.Timestamp":
        return st.builds(_well_known(descriptor), seconds=st.integers(*TIMESTAMP_SECONDS), nanos=NANOS)
    if name == "google.protobuf.Duration":
        return st.builds(
            _duration, st.integers(-DURATION_SECONDS, DURATION_SECONDS), NANOS, st.just(descriptor)
        )
    optional: dict[str, st.SearchStrategy] = {}
    for field in descriptor.fields:
        values = _field_values(field, depth)
        if values is not None:
            optional[field.name] = values
    return st.fixed_dictionaries({}, optional=optional).map(lambda values: _build(descriptor, values))


def _field_values(field: FieldDescriptor, depth: int) -> st.SearchStrategy | None:
    if field.type == F.TYPE_MESSAGE and depth >= MAX_DEPTH and not is_map(field):
        return None
    if is_map(field):
        key = scalar(field.message_type.fields_by_name["key"])
        value = _single(field.message_type.fields_by_name["value"], depth)
        return st.dictionaries(key, value, max_size=3) if value is not None else None
    single = _single(field, depth)
    if field.is_repeated:
        return st.lists(single, max_size=3)
    return single


def _single(field: FieldDescriptor, depth: int) -> st.SearchStrategy | None:
    if field.type == F.TYPE_MESSAGE:
        return None if depth >= MAX_DEPTH else messages(field.message_type, depth + 1)
    return scalar(field)


def _build(descriptor: Descriptor, values: dict) -> Message:
    message = GetMessageClass(descriptor)()
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        target = getattr(message, name)
        if is_map(field):
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif field.is_repeated:
            if field.type == F.TYPE_MESSAGE:
                for item in value:
                    target.add().CopyFrom(item)
            else:
                target.extend(value)
        elif field.type == F.TYPE_MESSAGE:
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def _well_known(descriptor: Descriptor) -> type[Message]:
    return GetMessageClass(descriptor)


def _duration(seconds: int, nanos: int, descriptor: Descriptor) -> Message:
    # A Duration's seconds and nanos have the same sign.
    return GetMessageClass(descriptor)(seconds=seconds, nanos=-nanos if seconds < 0 else nanos)


ALL_TYPES_FILE = "novahouse/fuzz/v1/all_types_test.proto"
P = descriptor_pb2.FieldDescriptorProto
SCALAR_TYPES = {
    "double": P.TYPE_DOUBLE,
    "float": P.TYPE_FLOAT,
    "int32": P.TYPE_INT32,
    "int64": P.TYPE_INT64,
    "uint32": P.TYPE_UINT32,
    "uint64": P.TYPE_UINT64,
    "sint32": P.TYPE_SINT32,
    "sint64": P.TYPE_SINT64,
    "fixed32": P.TYPE_FIXED32,
    "fixed64": P.TYPE_FIXED64,
    "sfixed32": P.TYPE_SFIXED32,
    "sfixed64": P.TYPE_SFIXED64,
    "bool": P.TYPE_BOOL,
    "string": P.TYPE_STRING,
    "bytes": P.TYPE_BYTES,
}


def all_types() -> Descriptor:
    """`novahouse.fuzz.v1.AllTypes`: every scalar type singular, proto3-optional and repeated, an enum,
    maps with integer, bool and string keys, a oneof, a message that contains itself, and the
    well-known types with a JSON form of their own. Added to the default pool once."""
    pool = descriptor_pool.Default()
    try:
        return pool.FindMessageTypeByName("novahouse.fuzz.v1.AllTypes")
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto(
        name=ALL_TYPES_FILE,
        package="novahouse.fuzz.v1",
        syntax="proto3",
        dependency=[module.DESCRIPTOR.name for module in (timestamp_pb2, duration_pb2, wrappers_pb2)],
    )
    colour = proto.enum_type.add(name="Colour")
    for number, name in enumerate(("COLOUR_UNSPECIFIED", "COLOUR_RED", "COLOUR_GREEN")):
        colour.value.add(name=name, number=number)
    message = proto.message_type.add(name="AllTypes")
    number = iter(range(1, 1000))

    def add(name: str, kind: int, label: int = P.LABEL_OPTIONAL, type_name: str = "", **extra) -> None:
        if type_name:
            extra["type_name"] = type_name
        message.field.add(name=name, number=next(number), type=kind, label=label, **extra)

    for name, kind in SCALAR_TYPES.items():
        add(f"single_{name}", kind)
        add(f"repeated_{name}", kind, P.LABEL_REPEATED)
    message.oneof_decl.add(name="choice")
    add("choice_text", P.TYPE_STRING, oneof_index=0)
    add("choice_number", P.TYPE_SINT64, oneof_index=0)
    add("choice_child", P.TYPE_MESSAGE, type_name=".novahouse.fuzz.v1.AllTypes", oneof_index=0)
    # proto3 `optional`: a synthetic oneof of its own (after the real ones) gives each field presence.
    for name, kind in SCALAR_TYPES.items():
        message.oneof_decl.add(name=f"_optional_{name}")
        add(f"optional_{name}", kind, proto3_optional=True, oneof_index=len(message.oneof_decl) - 1)
    add("colour", P.TYPE_ENUM, type_name=".novahouse.fuzz.v1.Colour")
    add("colours", P.TYPE_ENUM, P.LABEL_REPEATED, ".novahouse.fuzz.v1.Colour")
    add("child", P.TYPE_MESSAGE, type_name=".novahouse.fuzz.v1.AllTypes")
    add("children", P.TYPE_MESSAGE, P.LABEL_REPEATED, ".novahouse.fuzz.v1.AllTypes")
    add("at", P.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    add("times", P.TYPE_MESSAGE, P.LABEL_REPEATED, ".google.protobuf.Timestamp")
    add("lasting", P.TYPE_MESSAGE, type_name=".google.protobuf.Duration")
    for wrapper in ("Int64Value", "UInt32Value", "StringValue", "BoolValue", "BytesValue", "FloatValue"):
        add(f"wrapped_{wrapper.lower()}", P.TYPE_MESSAGE, type_name=f".google.protobuf.{wrapper}")
    for key_name, key_kind, value_kind, value_type in (
        ("StringToInt64", P.TYPE_STRING, P.TYPE_INT64, ""),
        ("Int32ToChild", P.TYPE_INT32, P.TYPE_MESSAGE, ".novahouse.fuzz.v1.AllTypes"),
        ("BoolToColour", P.TYPE_BOOL, P.TYPE_ENUM, ".novahouse.fuzz.v1.Colour"),
        ("Uint64ToBytes", P.TYPE_UINT64, P.TYPE_BYTES, ""),
    ):
        entry = message.nested_type.add(name=f"{key_name}Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=key_kind, label=P.LABEL_OPTIONAL)
        value = entry.field.add(name="value", number=2, type=value_kind, label=P.LABEL_OPTIONAL)
        if value_type:
            value.type_name = value_type
        add(
            f"map_{key_name.lower()}",
            P.TYPE_MESSAGE,
            P.LABEL_REPEATED,
            f".novahouse.fuzz.v1.AllTypes.{key_name}Entry",
        )
    pool.AddSerializedFile(proto.SerializeToString())
    return pool.FindMessageTypeByName("novahouse.fuzz.v1.AllTypes")
