"""Circuit breakers (pybreaker) with their state in Redis when it is configured, so every replica of a
service shares one breaker per dependency, and in memory otherwise: the implementation of the
services.runtime.circuit port."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import pybreaker
import redis

from services.runtime.circuit import BreakerOpen, BreakerStatus
from services.runtime.config import Environment

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class BreakerSettings:
    fail_max: int
    reset_timeout: float

    @classmethod
    def from_env(cls, env: Environment) -> BreakerSettings:
        return cls(
            fail_max=env.integer("CB_FAIL_MAX", 5, minimum=1, maximum=10_000),
            reset_timeout=env.number("CB_RESET_TIMEOUT", 60.0, minimum=0.1),
        )


class _SharedStorage(pybreaker.CircuitRedisStorage):
    """pybreaker's Redis storage, except that an unreachable Redis at start is tolerated like it is
    later (the storage then answers its fallback state: closed)."""

    def _initialize_redis_state(self, state: str) -> None:
        try:
            super()._initialize_redis_state(state)
        except redis.RedisError as error:
            log.warning(
                "breaker storage %s: Redis unreachable at start (%s); state falls back to closed",
                self._namespace_name,
                error,
            )


class _StateChangeLog(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        before = old_state.name if old_state is not None else "-"
        if before != new_state.name:
            log.warning("circuit breaker %s: %s -> %s", cb.name, before, new_state.name)


class Breaker:
    """One circuit breaker. Errors in `exclude` are answers of a healthy dependency (a rejected
    payload, a rate limit): pybreaker counts them as successes, so they never open the breaker. The
    failure that trips it is raised as it is, so the caller still learns what the dependency said."""

    def __init__(
        self,
        name: str,
        settings: BreakerSettings,
        *,
        redis_client: redis.Redis | None = None,
        namespace: str = "novahouse:breaker",
        exclude: Iterable[type[BaseException]] = (),
    ) -> None:
        if redis_client is not None:
            self._storage: pybreaker.CircuitBreakerStorage = _SharedStorage(
                pybreaker.STATE_CLOSED, redis_client, namespace=f"{namespace}:{name}"
            )
        else:
            self._storage = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=settings.fail_max,
            reset_timeout=settings.reset_timeout,
            exclude=list(exclude),
            listeners=[_StateChangeLog()],
            state_storage=self._storage,
            name=name,
            throw_new_error_on_trip=False,
        )
        self.name = name

    def call(self, func: Callable[[], T]) -> T:
        """Calls `func` unless the breaker is open; raises BreakerOpen when it rejected the call."""
        try:
            return self._breaker.call(func)
        except pybreaker.CircuitBreakerError:
            opened_at = self._storage.opened_at or dt.datetime.now(dt.UTC)
            raise BreakerOpen(
                self.name, opened_at + dt.timedelta(seconds=self._breaker.reset_timeout)
            ) from None

    def status(self) -> BreakerStatus:
        state = self._breaker.current_state
        return BreakerStatus(
            name=self.name,
            state=state,
            fail_counter=self._breaker.fail_counter,
            fail_max=self._breaker.fail_max,
            reset_timeout=self._breaker.reset_timeout,
            opened_at=self._storage.opened_at if state != pybreaker.STATE_CLOSED else None,
        )

    def reset(self) -> None:
        """Closes the breaker and clears its failure count (an operator's override)."""
        self._breaker.close()
        self._storage.reset_counter()
        log.warning("circuit breaker %s reset by an operator", self.name)
