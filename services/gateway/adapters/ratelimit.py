"""The rate limiter: Redis when REDIS_URL is set, memory otherwise.

In Redis, every limit of a route is checked and counted by one Lua script (loaded once, called with
EVALSHA) that also answers what the headers need: one round trip per request, however many limits the
route has. The `limits` library, the well-kept choice otherwise and still the in-memory storage here,
spends two round trips per limit (hit, then window stats) and several commands in each; under load that
was most of the gateway's Redis traffic (bench/RESULTS.md). The script implements the same three
strategies: fixed-window, sliding-window-counter (two fixed windows, the previous one weighted by how
much of it still overlaps the sliding window) and moving-window (a sorted set of request times). A
request that any limit refuses counts against none, so refused requests do not extend an outage.

While Redis cannot be reached the limits are counted in memory (per process: with several replicas
each one allows the full budget), never switched off, and never a 5xx. A background task pings Redis
every RATE_LIMIT_REDIS_RECHECK_SECONDS and switches back when it answers. Each switch is logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence

import redis.asyncio
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import STRATEGIES, RateLimiter
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from services.gateway.adapters.metrics import count_decision
from services.gateway.application.ports import RateLimitStorageStatus
from services.gateway.application.ratelimit import Decision, LimitState, RatePolicy, limit_identity
from services.gateway.settings import RateLimitSettings

log = logging.getLogger(__name__)

# A Redis that hangs must not hold requests: every command gets this long, with no retries.
REDIS_TIMEOUT_SECONDS = 0.5

# KEYS: one per limit. ARGV: strategy, a request-unique token, then amount and window (ms) per limit.
# Answers allowed (0/1), remaining and reset time (epoch ms) per limit. Time is Redis's own (TIME), so
# replicas with drifting clocks share one window.
CHECK_AND_COUNT = """
local strategy, token = ARGV[1], ARGV[2]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local states, all_allowed = {}, true
for i, key in ipairs(KEYS) do
  local amount, window = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
  local used, reset
  if strategy == 'fixed-window' then
    used = tonumber(redis.call('GET', key) or '0')
    local ttl = redis.call('PTTL', key)
    reset = now + (ttl > 0 and ttl or window)
  elseif strategy == 'moving-window' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    used = redis.call('ZCARD', key)
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    reset = (oldest[2] and tonumber(oldest[2]) or now) + window
  else
    local start = now - now % window
    local previous = tonumber(redis.call('GET', key .. ':' .. (start - window)) or '0')
    local current = tonumber(redis.call('GET', key .. ':' .. start) or '0')
    local left = start + window - now
    used = math.floor(previous * left / window) + current
    if previous > 0 then
      reset = now + math.min(left, math.ceil(window / previous))
    else
      reset = start + window + math.ceil(window / math.max(current, 1))
    end
  end
  local allowed = used < amount
  all_allowed = all_allowed and allowed
  states[i] = {allowed, used, reset, amount, window}
end
local answer = {}
for i, key in ipairs(KEYS) do
  local allowed, used, reset, amount, window = unpack(states[i])
  if all_allowed then
    used = used + 1
    if strategy == 'fixed-window' then
      if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, window) end
    elseif strategy == 'moving-window' then
      redis.call('ZADD', key, now, now .. ':' .. token)
      redis.call('PEXPIRE', key, window)
    else
      local counter = key .. ':' .. (now - now % window)
      redis.call('INCR', counter)
      redis.call('PEXPIRE', counter, 2 * window)
    end
  end
  answer[3 * i - 2] = allowed and 1 or 0
  answer[3 * i - 1] = math.max(0, amount - used)
  answer[3 * i] = reset
end
return answer
"""


# `limits` types its registry with the abstract base class; every entry is a concrete strategy.
_STRATEGIES: dict[str, Callable[[Storage], RateLimiter]] = dict(STRATEGIES)


class LimitsRateLimiter:
    def __init__(self, settings: RateLimitSettings) -> None:
        self.strategy = settings.strategy
        strategy = _STRATEGIES[settings.strategy]
        self._memory_storage = MemoryStorage()
        self._memory: RateLimiter = strategy(self._memory_storage)
        self._memory_clients: OrderedDict[str, Sequence[RatePolicy]] = OrderedDict()
        self._memory_max_clients = settings.memory_max_clients
        self._ipv6_prefix = settings.ipv6_prefix
        self._recheck_seconds = settings.redis_recheck_seconds
        self._client: redis.asyncio.Redis | None = None
        self._key_prefix = settings.key_prefix
        if settings.redis_url is not None:
            self._client = redis.asyncio.Redis.from_url(
                settings.redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),
            )
            self._script = self._client.register_script(CHECK_AND_COUNT)
        self._using_redis = self._client is not None
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
            await self._client.script_load(CHECK_AND_COUNT)  # later calls are EVALSHA only
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
        decision = await self._check(limit_identity(client_key, self._ipv6_prefix), policies)
        count_decision(decision)
        return decision

    async def _check(self, client_key: str, policies: Sequence[RatePolicy]) -> Decision:
        if self._client is not None and self._using_redis:
            try:
                return await self._decide_in_redis(client_key, policies)
            except Exception as error:  # whatever Redis did, the request is answered from memory
                self._fall_back(error)
        await self._forget_beyond_cap(client_key, policies)
        return await _decide(self._memory, "memory", client_key, policies)

    async def _forget_beyond_cap(self, client_key: str, policies: Sequence[RatePolicy]) -> None:
        """Keeps the memory counters to RATE_LIMIT_MEMORY_MAX_CLIENTS clients: the least recently seen
        one is forgotten (its counters cleared) when a new one arrives; O(1), nothing is scanned."""
        self._memory_clients[client_key] = policies
        self._memory_clients.move_to_end(client_key)
        while len(self._memory_clients) > self._memory_max_clients:
            forgotten, its_policies = self._memory_clients.popitem(last=False)
            for policy in its_policies:
                await self._memory.clear(policy.limit, policy.name, forgotten)

    async def _decide_in_redis(self, client_key: str, policies: Sequence[RatePolicy]) -> Decision:
        keys = [f"{self._key_prefix}:{self.strategy}:{p.name}:{client_key}" for p in policies]
        arguments: list[str | int] = [self.strategy, uuid.uuid4().hex]
        for policy in policies:
            arguments += [policy.quota, policy.window_seconds * 1000]
        answer = await self._script(keys=keys, args=arguments)
        states = tuple(
            LimitState(policy, bool(answer[3 * i]), int(answer[3 * i + 1]), answer[3 * i + 2] / 1000)
            for i, policy in enumerate(policies)
        )
        return Decision(states, "redis")

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
                await self._client.script_load(CHECK_AND_COUNT)  # a restarted Redis has lost it
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
    """Tests every limit first and counts the request against them only when all allow it: a request
    that one limit refuses counts against none (as the Redis script does)."""
    allowed_by = [await limiter.test(policy.limit, policy.name, client_key) for policy in policies]
    admitted = all(allowed_by)
    states = []
    for policy, allowed in zip(policies, allowed_by, strict=True):
        if admitted:
            allowed = await limiter.hit(policy.limit, policy.name, client_key)
        stats = await limiter.get_window_stats(policy.limit, policy.name, client_key)
        remaining = max(0, stats.remaining) if allowed and admitted else 0
        states.append(LimitState(policy, allowed, remaining, stats.reset_time))
    return Decision(tuple(states), storage)
