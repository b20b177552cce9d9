"""Who may call what: each RPC's declared access class, and secrets as every service checks them (in
constant time, never logged or shown in a repr)."""

from __future__ import annotations

import hmac
from typing import Any

from google.protobuf.descriptor import MethodDescriptor

from novahouse.api.v1 import access_pb2

MIN_SECRET_LENGTH = 32


class Secret:
    """A configured secret (ADMIN_API_KEY, INTERNAL_API_KEY), or none: then nothing matches it."""

    def __init__(self, value: str | None) -> None:
        self._value = value.encode() if value else None

    @property
    def configured(self) -> bool:
        return self._value is not None

    def reveal(self) -> str:
        """The secret itself, to send it on (metadata of an outgoing call)."""
        return self._value.decode() if self._value else ""

    def matches(self, presented: str | bytes | None) -> bool:
        if self._value is None or not presented:
            return False
        raw = presented.encode() if isinstance(presented, str) else presented
        return hmac.compare_digest(raw, self._value)

    def __repr__(self) -> str:
        return f"Secret({'<redacted>' if self._value else None})"

    __str__ = __repr__


def declared_access(method: MethodDescriptor) -> int:
    """The RPC's `(novahouse.api.v1.access)` option; ACCESS_UNSPECIFIED when it declares none."""
    options = method.GetOptions()
    # The generated stub types the extension as a plain FieldDescriptor; the runtime object is right.
    extension: Any = access_pb2.access
    if not options.HasExtension(extension):
        return access_pb2.ACCESS_UNSPECIFIED
    return int(options.Extensions[extension])


def access_name(access: int) -> str:
    """'ACCESS_ADMIN' -> 'ADMIN'."""
    return access_pb2.Access.Name(access).removeprefix("ACCESS_")
