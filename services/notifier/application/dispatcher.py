"""One delivery attempt: through the channel's gate, then its circuit breaker, then its sink.

The breaker (pybreaker behind the services.runtime.circuit port) holds its lock for the whole guarded
call, so a hanging sink would make every caller wait behind it. The gate is a lock of our own that a
caller may decline to wait for: `Notify` never waits (if another attempt on the channel is in flight it
answers QUEUED at once, keeping gRPC threads free), while the retry job waits its turn.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from services.notifier.application.metrics import DELIVERIES
from services.notifier.application.ports import Sink
from services.notifier.domain.model import (
    Channel,
    ErrorInfo,
    Message,
    PermanentFailure,
    RateLimited,
    RetryableFailure,
)
from services.runtime import tracing
from services.runtime.circuit import BreakerOpen, BreakerStatus, CircuitBreaker
from services.runtime.errors import FailedPrecondition, NotFound


class Result(Enum):
    DELIVERED = "delivered"
    PERMANENT = "permanent"  # refused for good
    RETRYABLE = "retryable"  # the sink failed; counts as an attempt
    RATE_LIMITED = "rate-limited"  # wait as told; not an attempt
    BREAKER_OPEN = "breaker-open"  # not attempted
    BUSY = "busy"  # another attempt on the channel is in flight; not attempted
    LOST = "lost"  # the caller's claim on the entry ended before its turn came; not attempted


@dataclass(frozen=True)
class Attempt:
    result: Result
    error: ErrorInfo | None = None
    retry_at: dt.datetime | None = None

    @property
    def failure(self) -> ErrorInfo:
        """The sink's error, which a PERMANENT or RETRYABLE attempt always carries."""
        if self.error is None:
            raise ValueError(f"a {self.result.name} attempt carries no error")
        return self.error

    @property
    def reached_sink(self) -> bool:
        return self.result in (Result.DELIVERED, Result.PERMANENT, Result.RETRYABLE, Result.RATE_LIMITED)


@dataclass
class Route:
    """A configured channel."""

    sink: Sink
    breaker: CircuitBreaker
    gate: threading.Lock


class Dispatcher:
    def __init__(self, routes: dict[Channel, Route], missing: dict[Channel, str]) -> None:
        self._routes = routes
        self._missing = missing  # unconfigured channel -> the variable that is missing

    def require(self, channel: Channel) -> None:
        if channel not in self._routes:
            raise FailedPrecondition(
                f"the {channel} channel is not configured: {self._missing[channel]} is not set"
            )

    def configured(self, channel: Channel) -> bool:
        return channel in self._routes

    def attempt(
        self, message: Message, *, wait: bool, now: dt.datetime, still_ours: Callable[[], bool] | None = None
    ) -> Attempt:
        """`still_ours` is asked once the gate is held, right before the sink would be called: a caller
        whose claim on the entry may have lapsed while it waited renews it there, or backs off.

        Each attempt is a span (in the trace of the call or retry pass that made it) and is counted in
        `novahouse_notifier_deliveries_total{channel,outcome}`. While tracing is off no (no-op) span is
        made: it cost about 5 % of a delivery's CPU."""
        if not tracing.enabled():
            attempt = self._attempt(message, wait=wait, now=now, still_ours=still_ours)
        else:
            with tracing.span("notifier.deliver", **{"notifier.channel": message.channel.value}) as span:
                attempt = self._attempt(message, wait=wait, now=now, still_ours=still_ours)
                span.set_attribute("notifier.outcome", attempt.result.value)
        DELIVERIES.labels(message.channel.value, attempt.result.value).inc()
        return attempt

    def _attempt(
        self, message: Message, *, wait: bool, now: dt.datetime, still_ours: Callable[[], bool] | None
    ) -> Attempt:
        route = self._routes[message.channel]
        if not route.gate.acquire(blocking=wait):
            return Attempt(Result.BUSY)
        try:
            if still_ours is not None and not still_ours():
                return Attempt(Result.LOST)
            route.breaker.call(lambda: route.sink.deliver(message))
        except BreakerOpen as open_breaker:
            return Attempt(Result.BREAKER_OPEN, retry_at=open_breaker.retry_at)
        except RateLimited as limited:
            return Attempt(
                Result.RATE_LIMITED, limited.info, retry_at=now + dt.timedelta(seconds=limited.retry_after)
            )
        except PermanentFailure as failure:
            return Attempt(Result.PERMANENT, failure.info)
        except RetryableFailure as failure:
            return Attempt(Result.RETRYABLE, failure.info)
        finally:
            route.gate.release()
        return Attempt(Result.DELIVERED)

    def breakers(self) -> list[BreakerStatus]:
        return [route.breaker.status() for route in self._routes.values()]

    def reset_breaker(self, name: str) -> BreakerStatus:
        for route in self._routes.values():
            if route.breaker.name == name:
                route.breaker.reset()
                return route.breaker.status()
        names = ", ".join(route.breaker.name for route in self._routes.values()) or "none configured"
        raise NotFound(f"no breaker named {name!r} (breakers: {names})")
