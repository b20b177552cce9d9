"""A database that goes away for a while, in-process: a unit-of-work factory whose next few units fail
to begin as a dropped PostgreSQL connection does, for tests of what a service records meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import exc as sa_exc


class FlakyDatabase:
    def __init__(self, unit_of_work: Callable[[], Any]) -> None:
        self._unit_of_work = unit_of_work
        self.failures_left = 0
        self.refused = 0

    def go_away(self, failures: int) -> None:
        """The next `failures` units of work fail; the ones after them work again."""
        self.failures_left = failures

    def __call__(self) -> Any:
        if self.failures_left > 0:
            self.failures_left -= 1
            self.refused += 1
            raise sa_exc.OperationalError("BEGIN", {}, Exception("server closed the connection unexpectedly"))
        return self._unit_of_work()
