"""Circuit breakers as the use cases see them: a port, its status and its refusal. The implementation
(pybreaker, with its state in Redis when configured) is services.runtime.breakers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class BreakerStatus:
    name: str
    state: str  # "closed", "open" or "half-open"
    fail_counter: int
    fail_max: int
    reset_timeout: float
    opened_at: dt.datetime | None


class BreakerOpen(Exception):
    """The breaker rejected the call without making it; it may let a trial call through at `retry_at`."""

    def __init__(self, name: str, retry_at: dt.datetime) -> None:
        super().__init__(f"circuit breaker {name!r} is open until {retry_at.isoformat()}")
        self.name = name
        self.retry_at = retry_at


class CircuitBreaker(Protocol):
    @property
    def name(self) -> str: ...

    def call(self, func: Callable[[], T]) -> T:
        """Runs `func` through the breaker; raises BreakerOpen without running it while it is open."""
        ...

    def status(self) -> BreakerStatus: ...

    def reset(self) -> None:
        """Closes the breaker and forgets its failures."""
        ...
