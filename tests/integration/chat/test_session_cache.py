"""The session cache on a real Redis: TTL, and the in-memory fallback while Redis is down."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from services.chat.adapters.session_cache import FallbackSessionCache, MemorySessionCache, RedisSessionCache
from services.chat.application.ports import SessionContext
from services.runtime.redis_client import connect_redis
from tests.support.redis_server import PrivateRedis

CONTEXT = SessionContext(
    conversation_id=7, has_contact=True, recent=[("user", "Dzień dobry"), ("bot", "Witam")]
)


@pytest.mark.redis
def test_contexts_live_in_redis_under_the_session_timeout(redis_url):
    client = connect_redis(redis_url)
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    cache = FallbackSessionCache(
        RedisSessionCache(client, prefix, ttl_seconds=1800), MemorySessionCache(60, 10)
    )
    try:
        cache.set("s1", CONTEXT)
        assert cache.get("s1") == CONTEXT
        assert cache.mode == "redis"
        key = f"{prefix}:chat:session:s1"
        assert 1790_000 < client.pttl(key) <= 1800_000
    finally:
        client.delete(f"{prefix}:chat:session:s1")
        client.close()


def test_a_redis_outage_falls_back_to_memory_and_back():
    server = PrivateRedis().start()
    client = connect_redis(server.url)
    memory = MemorySessionCache(60, 10)
    cache = FallbackSessionCache(RedisSessionCache(client, "t", ttl_seconds=60), memory, retry_seconds=0.5)
    try:
        cache.set("before", CONTEXT)
        assert (cache.mode, len(memory)) == ("redis", 0)

        server.stop()
        started = time.monotonic()
        cache.set("during", CONTEXT)
        assert cache.mode == "memory"
        assert cache.get("during") == CONTEXT
        for _ in range(20):
            cache.get("during")  # the breaker keeps calls off the dead Redis: no timeout each time
        assert time.monotonic() - started < 3

        server.start()
        time.sleep(0.6)
        cache.set("after", CONTEXT)
        assert cache.mode == "redis"
        assert redis.Redis.from_url(server.url).exists("t:chat:session:after") == 1
    finally:
        client.close()
        server.close()
