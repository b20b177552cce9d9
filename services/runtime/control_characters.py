"""Control characters in request text: refused before any use case sees them.

PostgreSQL cannot store NUL in text at all (the request would fail as an internal error), and the
other C0 controls and DEL have no business in an email, a name or a chat message: they are how log
lines are forged and terminals confused. Tab, line feed and carriage return are text.
"""

from __future__ import annotations

import re

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

# As a regular expression character class (the OpenAPI document uses it too).
CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


def field_with_control_character(message: Message, prefix: str = "") -> str | None:
    """The path ('reason', 'email.to', 'items[2].name') of the first string field holding a control
    character, or None."""
    for field, value in message.ListFields():
        name = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_STRING:
            values = value if _is_repeated(field) else [value]
            for index, text in enumerate(values):
                if _CONTROL.search(text):
                    return f"{name}[{index}]" if _is_repeated(field) else name
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                for key, item in value.items():
                    if isinstance(key, str) and _CONTROL.search(key):
                        return f"{name}.{key!r}"
                    if isinstance(item, str) and _CONTROL.search(item):
                        return f"{name}[{key!r}]"
                    found = (
                        field_with_control_character(item, f"{name}.") if isinstance(item, Message) else None
                    )
                    if found:
                        return found
                continue
            items = value if _is_repeated(field) else [value]
            for index, item in enumerate(items):
                inner = f"{name}[{index}]." if _is_repeated(field) else f"{name}."
                if found := field_with_control_character(item, inner):
                    return found
    return None


def _is_repeated(field: FieldDescriptor) -> bool:
    return field.is_repeated
