"""When follow-ups are due: follow-up k once the visitor has been idle longer than the k-th delay."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence


def is_due(number: int, last_user_message_at: dt.datetime, delays: Sequence[float], now: dt.datetime) -> bool:
    return now - last_user_message_at >= dt.timedelta(seconds=delays[number - 1])


def due_cutoff(number: int, delays: Sequence[float], now: dt.datetime) -> dt.datetime:
    """Conversations whose visitor wrote last at or before this are due follow-up `number`."""
    return now - dt.timedelta(seconds=delays[number - 1])
