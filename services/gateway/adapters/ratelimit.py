"""The rate limiter on the `limits` library: Redis when REDIS_URL is set, memory otherwise.

While Redis cannot be reached the limits are counted in memory (per process: with several replicas
each one allows the full budget), never switched off, and never a 5xx. A background task pings Redis
every RATE_LIMIT_REDIS_RECHECK_SECONDS and switches back when it answers. Each switch is logged once.

Today every policy costs two Redis round trips (hit, then window stats); the RateLimiter port lets a
single-script implementation replace this class without touching the request flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import redis.asyncio
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import STRATEGIES, RateLimiter
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from services.gateway.application.ports import RateLimitStorageStatus
from services.gateway.application.ratelimit import Decision, LimitState, RatePolicy
from services.gateway.settings import RateLimitSettings

log = logging.getLogger(__name__)

# A Redis that hangs must not hold requests: every command gets this long, with no retries.
REDIS_TIMEOUT_SECONDS = 0.5


class LimitsRateLimiter:
    def __init__(self, settings: RateLimitSettings) -> None:
        self.strategy = settings.strategy
        strategy = STRATEGIES[settings.strategy]
        self._memory_storage = MemoryStorage()
        self._memory: RateLimiter = strategy(self._memory_storage)
        self._recheck_seconds = settings.redis_recheck_seconds
        self._client: redis.asyncio.Redis | None = None
        self._redis: RateLimiter | None = None
        if settings.redis_url is not None:
            self._client = redis.asyncio.Redis.from_url(
                settings.redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),
            )
            storage = RedisStorage(
                "async+redis://",  # the connection comes from the pool below, not from this URI
                implementation="redispy",
                key_prefix=settings.key_prefix,
                wrap_exceptions=True,
                connection_pool=self._client.connection_pool,
            )
            self._redis = strategy(storage)
        self._using_redis = self._redis is not None
        self._watcher: asyncio.Task | None = None

    @property
    def storage_in_use(self) -> str:
        return "redis" if self._using_redis else "memory"

    async def start(self) -> None:
        """Checks Redis once at start, so a Redis that is down is reported now, not on a request."""
        if self._client is None:
            log.info("rate limits in memory (REDIS_URL is not set)")
            return
        try:
            await self._client.ping()
        except Exception as error:
            self._fall_back(error)
        else:
            log.info("rate limits in Redis")

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._memory_storage.timer is not None:
            self._memory_storage.timer.cancel()
        if self._client is not None:
            await self._client.aclose()

    async def check(self, client_key: str, policies: Sequence[RatePolicy]) -> Decision:
        if self._redis is not None and self._using_redis:
            try:
                return await _decide(self._redis, "redis", client_key, policies)
            except Exception as error:  # whatever Redis did, the request is answered from memory
                self._fall_back(error)
        return await _decide(self._memory, "memory", client_key, policies)

    def _fall_back(self, error: Exception) -> None:
        if not self._using_redis and self._watcher is not None:
            return
        self._using_redis = False
        log.warning(
            "Redis unreachable (%s); rate limits are counted in memory until it answers again",
            str(error).splitlines()[0] if str(error) else type(error).__name__,
        )
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self._watch_redis())

    async def _watch_redis(self) -> None:
        assert self._client is not None
        while not self._using_redis:
            await asyncio.sleep(self._recheck_seconds)
            try:
                await self._client.ping()
            except Exception as error:
                log.debug("Redis still unreachable: %s", error)
                continue
            self._using_redis = True
            log.warning("Redis reachable again; rate limits are counted in Redis")

    async def status(self) -> RateLimitStorageStatus:
        if self._client is None:
            return RateLimitStorageStatus(
                self.storage_in_use, self.strategy, False, None, "REDIS_URL is not set"
            )
        started = time.perf_counter()
        try:
            await self._client.ping()
        except Exception as error:
            detail = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            return RateLimitStorageStatus(self.storage_in_use, self.strategy, True, False, detail)
        detail = f"ping {(time.perf_counter() - started) * 1000:.1f}ms"
        return RateLimitStorageStatus(self.storage_in_use, self.strategy, True, True, detail)


async def _decide(
    limiter: RateLimiter, storage: str, client_key: str, policies: Sequence[RatePolicy]
) -> Decision:
    states = []
    for policy in policies:
        allowed = await limiter.hit(policy.limit, policy.name, client_key)
        stats = await limiter.get_window_stats(policy.limit, policy.name, client_key)
        remaining = max(0, stats.remaining) if allowed else 0
        states.append(LimitState(policy, allowed, remaining, stats.reset_time))
    return Decision(tuple(states), storage)
