"""UTC datetimes as protobuf Timestamps, for every servicer's responses."""

from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp


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
