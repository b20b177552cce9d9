"""JSON values ⇄ protobuf values, as the proto3 JSON mapping defines them."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message


def message_to_json(message: Message) -> dict[str, Any]:
    """A message as a JSON object: proto field names, fields with default values printed."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
