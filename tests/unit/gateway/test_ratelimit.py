"""Rate-limit decisions, their headers (draft-ietf-httpapi-ratelimit-headers-10), and the limiter's
fallback to memory when Redis cannot be reached."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.gateway.adapters.ratelimit import LimitsRateLimiter
from services.gateway.application.ratelimit import (
    Decision,
    LimitState,
    Rate,
    RatePolicy,
    policy_header,
    rate_limit_headers,
)
from services.gateway.settings import RateLimitSettings

HOUR = RatePolicy("api-hour", Rate(200, 3600))
MINUTE = RatePolicy("api-minute", Rate(50, 60))
NOW = 1_800_000_000.0


def test_headers_announce_the_tightest_policy_and_every_policy_in_the_drafts_syntax():
    decision = Decision(
        (LimitState(HOUR, True, 120, NOW + 1800.2), LimitState(MINUTE, True, 7, NOW + 12.5)), "redis"
    )
    headers = dict(rate_limit_headers(decision, policy_header([HOUR, MINUTE]), NOW))
    assert headers == {
        "x-ratelimit-limit": "50",
        "x-ratelimit-remaining": "7",
        "x-ratelimit-reset": str(int(NOW) + 13),
        "ratelimit-policy": '"api-hour";q=200;w=3600, "api-minute";q=50;w=60',
        "ratelimit": '"api-hour";r=120;t=1801, "api-minute";r=7;t=13',
    }


def test_a_refusal_adds_retry_after_until_every_exhausted_policy_has_room():
    decision = Decision(
        (LimitState(HOUR, False, 0, NOW + 900.1), LimitState(MINUTE, False, 0, NOW + 30)), "memory"
    )
    headers = dict(rate_limit_headers(decision, policy_header([HOUR, MINUTE]), NOW))
    assert headers["retry-after"] == "901"
    assert headers["x-ratelimit-limit"] == "200"  # both at 0: the one that resets last is the tightest
    assert headers["x-ratelimit-remaining"] == "0"
    assert not decision.allowed
    assert Decision((LimitState(MINUTE, False, 0, NOW - 5),), "redis").retry_after(NOW) == 1


def settings(**changes) -> RateLimitSettings:
    values = {
        "chat": Rate(3, 3600),
        "api_hour": Rate(200, 3600),
        "api_minute": Rate(50, 60),
        "strategy": "sliding-window-counter",
        "redis_url": None,
        "key_prefix": "test",
        "redis_recheck_seconds": 0.05,
        **changes,
    }
    return RateLimitSettings(**values)


async def decisions(limiter: LimitsRateLimiter, key: str, count: int, policies) -> list[Decision]:
    return [await limiter.check(key, policies) for _ in range(count)]


@pytest.mark.parametrize("strategy", ["sliding-window-counter", "fixed-window", "moving-window"])
def test_in_memory_each_client_gets_its_own_budget(strategy):
    policy = RatePolicy("chat", Rate(3, 3600))

    async def scenario() -> tuple[list[Decision], Decision]:
        limiter = LimitsRateLimiter(settings(strategy=strategy))
        await limiter.start()
        try:
            first = await decisions(limiter, "198.51.100.1", 4, [policy])
            other = await limiter.check("198.51.100.2", [policy])
        finally:
            await limiter.close()
        return first, other

    first, other = asyncio.run(scenario())
    assert [d.allowed for d in first] == [True, True, True, False]
    assert [d.states[0].remaining for d in first] == [2, 1, 0, 0]
    assert {d.storage for d in first} == {"memory"}
    assert other.allowed


def test_an_unreachable_redis_falls_back_to_memory_logs_once_and_never_raises(caplog):
    policy = RatePolicy("chat", Rate(2, 3600))
    caplog.set_level(logging.INFO, logger="services.gateway.adapters.ratelimit")

    async def scenario():
        limiter = LimitsRateLimiter(settings(redis_url="redis://127.0.0.1:1/0"))
        try:
            found = await decisions(limiter, "198.51.100.1", 3, [policy])
            status = await limiter.status()
        finally:
            await limiter.close()
        return found, status

    found, status = asyncio.run(scenario())
    assert [d.allowed for d in found] == [True, True, False]
    assert {d.storage for d in found} == {"memory"}
    assert (status.storage, status.redis_configured, status.redis_reachable) == ("memory", True, False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "rate limits are counted in memory" in warnings[0]
