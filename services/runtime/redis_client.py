"""Redis connections with short timeouts: Redis is optional everywhere, so a dead server must be
noticed in about a second and answered with the documented fallback, never waited on."""

from __future__ import annotations

import redis

from services.runtime.diagnostics import Probe

REDIS_TIMEOUT_SECONDS = 1.0


def connect_redis(url: str) -> redis.Redis:
    """A client that connects lazily; bytes in and out (pybreaker's storage decodes itself)."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        health_check_interval=15,
    )


def redis_probe(client: redis.Redis) -> Probe:
    def probe() -> str:
        client.ping()
        return "redis"

    return probe


def parse_key_prefix(raw: str) -> str:
    """REDIS_KEY_PREFIX: what every key a service writes starts with, so deployments (or tests)
    sharing one Redis never see each other's breakers, limits or sessions."""
    if not raw.replace("-", "").replace("_", "").replace(":", "").isalnum():
        raise ValueError(raw)
    return raw


def parse_redis_url(raw: str) -> str:
    """Validates a Redis URL for settings; raises ValueError."""
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(raw)
    redis.connection.parse_url(raw)
    return raw
