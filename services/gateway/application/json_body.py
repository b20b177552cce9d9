"""The JSON decoder of request bodies: RFC 8259 only (no NaN or Infinity), and no key twice in one
object (parsers disagree on which one wins, so a proxy and the gateway could read different requests)."""

from __future__ import annotations

import json


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    document: dict[str, object] = {}
    for key, value in pairs:
        if key in document:
            raise DuplicateKey(key)
        document[key] = value
    return document


# Built once: json.loads with options would build a decoder per request.
JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_object)
