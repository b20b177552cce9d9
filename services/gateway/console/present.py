"""Turning service answers into what the pages show: masked personal data, ages, and the 24-hour chart.

Payloads and error texts of notifications hold visitors' addresses and phone numbers (a Slack alert
about a hot lead, an email's recipient): every text the DLQ pages show goes through `mask` first.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from services.gateway.console.backend import parse_time

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9])[A-Za-z0-9.-]*(\.[A-Za-z]{2,})")
# Nine to thirteen digits standing alone, possibly grouped by spaces, dashes or dots, with an optional
# + prefix: phone numbers, not dates or longer ids.
_PHONE = re.compile(r"(?<![\d.-])\+?\d(?:[ .-]?\d){7,11}(\d)(?![ .-]?\d)")
CHANNELS = ("CHANNEL_SLACK", "CHANNEL_MONDAY", "CHANNEL_EMAIL")
HOURS = 24


def mask(text: str) -> str:
    """'anna.k@example.com, tel. 601 234 567' -> 'a***@e***.com, tel. ***7'."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}***{m.group(3)}", text)
    return _PHONE.sub(lambda m: f"***{m.group(1)}", text)


def masked_payload(payload_json: str) -> str:
    """The payload pretty-printed with addresses masked."""
    try:
        text = json.dumps(json.loads(payload_json), ensure_ascii=False, indent=2)
    except ValueError:
        text = payload_json
    return mask(text)


def age(seconds: float) -> str:
    """3725 -> '1h 2m'."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def short_time(text: str | None) -> str:
    """An RFC 3339 timestamp as 'YYYY-MM-DD HH:MM:SS UTC'; '' for none."""
    if not text:
        return ""
    return parse_time(text).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Bar:
    x: float
    delivered_y: float
    delivered_h: float
    failed_y: float
    failed_h: float
    hour: str
    delivered: int
    failed: int


@dataclass(frozen=True)
class ChannelChart:
    channel: str
    delivered: int
    failed: int
    bars: tuple[Bar, ...]
    peak: int


CHART_WIDTH = 480
CHART_HEIGHT = 120
_BAR_SLOT = CHART_WIDTH / HOURS


def chart(entries: Iterable[dict], now: dt.datetime) -> list[ChannelChart]:
    """Per channel, 24 hourly bars: notifications delivered in that hour (by delivery time), and
    notifications created in that hour that are not delivered and have failed at least once."""
    start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=HOURS - 1)
    counts = {c: ([0] * HOURS, [0] * HOURS) for c in CHANNELS}

    def slot(moment: dt.datetime) -> int | None:
        index = int((moment - start).total_seconds() // 3600)
        return index if 0 <= index < HOURS else None

    for entry in entries:
        channel = entry.get("channel")
        if channel not in counts:
            continue
        delivered, failed = counts[channel]
        if entry.get("status") == "DEAD_LETTER_STATUS_DELIVERED":
            index = slot(parse_time(entry.get("delivered_at") or entry.get("created_at")))
            if index is not None:
                delivered[index] += 1
        elif int(entry.get("attempts", 0)) > 0 or entry.get("status") == "DEAD_LETTER_STATUS_FAILED":
            index = slot(parse_time(entry.get("created_at")))
            if index is not None:
                failed[index] += 1
    charts = []
    for channel, (delivered, failed) in counts.items():
        peak = max(d + f for d, f in zip(delivered, failed, strict=True))
        scale = (CHART_HEIGHT - 4) / max(peak, 1)
        bars = []
        for index in range(HOURS):
            dh, fh = delivered[index] * scale, failed[index] * scale
            bars.append(
                Bar(
                    x=round(index * _BAR_SLOT + 1, 1),
                    delivered_y=round(CHART_HEIGHT - dh, 1),
                    delivered_h=round(dh, 1),
                    failed_y=round(CHART_HEIGHT - dh - fh, 1),
                    failed_h=round(fh, 1),
                    hour=(start + dt.timedelta(hours=index)).strftime("%H:00"),
                    delivered=delivered[index],
                    failed=failed[index],
                )
            )
        charts.append(ChannelChart(channel, sum(delivered), sum(failed), tuple(bars), peak))
    return charts


BAR_WIDTH = round(_BAR_SLOT - 2, 1)
