"""Row ids as the services show them to callers: decimal strings of non-negative 64-bit integers."""

from __future__ import annotations

from services.runtime.errors import InvalidArgument

# The largest BIGINT (PostgreSQL) and INTEGER (SQLite): a larger number cannot even be bound as a
# parameter on SQLite, and is no id on either.
MAX_ID = 2**63 - 1
_MAX_DIGITS = len(str(MAX_ID))


def id_value(text: str) -> int | None:
    """The id `text` spells in ASCII digits, or None if it spells none. str.isdigit alone is not enough:
    it also accepts '²' (which int() refuses) and other scripts' digits (which int() reads)."""
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > _MAX_DIGITS:
        return None
    number = int(text)
    return number if number <= MAX_ID else None


def parse_id(text: str, field: str, kind: str) -> int:
    """The id in a request's `field`; raises InvalidArgument naming the field if it is none."""
    number = id_value(text)
    if number is None:
        raise InvalidArgument(field, f"{text!r} is not a {kind} id")
    return number
