"""UTC datetimes as protobuf Timestamps, for every servicer's responses."""

from __future__ import annotations

import datetime as dt
from typing import overload

from google.protobuf.timestamp_pb2 import Timestamp


@overload
def timestamp(value: dt.datetime) -> Timestamp: ...


@overload
def timestamp(value: None) -> None: ...


@overload
def timestamp(value: dt.datetime | None) -> Timestamp | None: ...


def timestamp(value: dt.datetime | None) -> Timestamp | None:
    """The Timestamp of an aware datetime; None (the field left unset) for None."""
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def rfc3339(value: dt.datetime) -> str:
    """An aware datetime as protobuf's JSON form of a Timestamp, e.g. '2026-12-02T13:40:00.123456Z'."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp.ToJsonString()
