"""Keyset pagination shared by every List RPC: newest first, continued by an opaque page token."""

from __future__ import annotations

import base64
import binascii

from services.runtime.errors import InvalidArgument
from services.runtime.ids import id_value

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def page_limit(page_size: int) -> int:
    """The number of items to answer: the default for 0, at most MAX_PAGE_SIZE (AIP-158)."""
    if page_size < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_page_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"before:{last_id}".encode()).decode()


def decode_page_token(token: str) -> int | None:
    """The id the next page starts below, or None for the first page."""
    if not token:
        return None
    try:
        prefix, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        prefix, value = "", ""
    before_id = id_value(value) if prefix == "before" else None
    if before_id is None:
        raise InvalidArgument("page_token", "is not a token this service issued")
    return before_id
