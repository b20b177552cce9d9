"""A clock a test moves by hand, for use cases that take `clock=`."""

from __future__ import annotations

import datetime as dt


class FakeClock:
    """Starts at a fixed instant (or now) and only moves when told to."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now
