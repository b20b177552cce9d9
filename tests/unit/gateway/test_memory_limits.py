"""Rate-limit identity and the in-memory limiter: an IPv6 /64 shares one budget, a refused request counts
against no limit, and the number of clients kept in memory is capped (least recently seen forgotten)."""

from __future__ import annotations

import asyncio
import dataclasses

from limits import parse

from services.gateway.adapters.ratelimit import LimitsRateLimiter
from services.gateway.application.ratelimit import RatePolicy, limit_identity
from services.gateway.settings import GatewaySettings
from services.runtime.config import Environment


def limiter(**changes) -> LimitsRateLimiter:
    settings = GatewaySettings.from_env(Environment({})).rate_limits
    return LimitsRateLimiter(dataclasses.replace(settings, **changes))


def test_ipv6_clients_are_keyed_by_their_network():
    assert limit_identity("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert limit_identity("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert limit_identity("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert limit_identity("2001:db8:1:2:aaaa::1", 48) == "2001:db8:1::/48"
    assert limit_identity("2001:db8::1", 128) == "2001:db8::1"
    assert limit_identity("203.0.113.7") == "203.0.113.7"
    assert limit_identity("unknown") == "unknown"


def test_a_slash_64_shares_one_budget():
    async def scenario():
        memory = limiter()
        policy = (RatePolicy("chat", parse("2 per minute")),)
        first = [await memory.check(f"2001:db8:7:7::{n}", policy) for n in range(1, 4)]
        elsewhere = await memory.check("2001:db8:7:8::1", policy)
        return [d.allowed for d in first], elsewhere.allowed

    assert asyncio.run(scenario()) == ([True, True, False], True)


def test_a_refused_request_counts_against_no_budget_in_memory():
    async def scenario():
        memory = limiter()
        hour, minute = (
            RatePolicy("api-hour", parse("3 per hour")),
            RatePolicy("api-minute", parse("1 per minute")),
        )
        decisions = [await memory.check("198.51.100.1", (hour, minute)) for _ in range(4)]
        stats = await memory._memory.get_window_stats(hour.limit, hour.name, "198.51.100.1")
        return [d.allowed for d in decisions], stats.remaining

    assert asyncio.run(scenario()) == ([True, False, False, False], 2)


def test_memory_keeps_at_most_the_configured_number_of_clients():
    async def scenario():
        memory = limiter(memory_max_clients=100)
        policy = (RatePolicy("chat", parse("1 per hour")),)
        assert (await memory.check("10.0.0.0", policy)).allowed
        assert not (await memory.check("10.0.0.0", policy)).allowed
        for n in range(1, 101):  # 100 other clients push the first one out
            await memory.check(f"10.0.1.{n}", policy)
        assert len(memory._memory_clients) == 100
        return (await memory.check("10.0.0.0", policy)).allowed  # forgotten: a fresh budget

    assert asyncio.run(scenario()) is True
