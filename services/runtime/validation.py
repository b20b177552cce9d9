"""The request rules the contracts declare (`buf.validate` options in protos/), checked in one place.

The gRPC call interceptor validates every request with protovalidate before the servicer sees it, so
a rule written in a .proto is enforced by every service that serves it; a violation is an
InvalidArgument naming each field ('page_size', 'slack.text', 'ids[1]') with protovalidate's
description. What no declarative rule can say (email syntax and normalisation, rules that depend on
configuration or stored data) stays in the domain and the use cases.
"""

from __future__ import annotations

import protovalidate
from google.protobuf.message import Message

from services.runtime.errors import InvalidArgument

# Past this length a pattern is no help in an error message (the page tokens' is 230 characters).
_SHOWN_PATTERN_LENGTH = 60


def check_request(request: Message) -> None:
    """Raises InvalidArgument naming every field that breaks a rule its contract declares."""
    violations = protovalidate.collect_violations(request)
    if violations:
        found = [(_field_path(violation.proto.field), _description(violation)) for violation in violations]
        raise InvalidArgument(*found[0], *found[1:])


def _field_path(path: object) -> str:
    parts: list[str] = []
    for element in getattr(path, "elements", ()):
        name = element.field_name
        subscript = element.subscript
        if subscript is not None and subscript.field is not None:
            parts.append(f"{name}[{subscript.value}]")
        else:
            parts.append(name)
    return ".".join(parts) or "request"


def _description(violation: protovalidate.Violation) -> str:
    rule, message = violation.proto.rule_id, violation.proto.message
    if rule == "required":
        return "is required"
    if rule == "string.pattern" and len(str(violation.rule_value)) > _SHOWN_PATTERN_LENGTH:
        return "is not in the format the contract declares"
    return message
