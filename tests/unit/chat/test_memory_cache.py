from services.chat.adapters.session_cache import FallbackSessionCache, MemorySessionCache
from services.chat.application.ports import SessionContext


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def context(n: int) -> SessionContext:
    return SessionContext(conversation_id=n, has_contact=False, recent=[("user", f"m{n}")])


def test_entries_expire_after_the_ttl():
    clock = Clock()
    cache = MemorySessionCache(ttl_seconds=30, max_entries=10, clock=clock)
    cache.set("s", context(1))
    clock.now += 29.9
    assert cache.get("s") == context(1)
    clock.now += 0.2
    assert cache.get("s") is None


def test_the_least_recently_used_entry_is_evicted_at_the_bound():
    cache = MemorySessionCache(ttl_seconds=30, max_entries=2)
    cache.set("a", context(1))
    cache.set("b", context(2))
    cache.get("a")  # a is now more recent than b
    cache.set("c", context(3))
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (context(1), None, context(3))
    assert len(cache) == 2


def test_purge_removes_expired_entries_and_reports_how_many():
    clock = Clock()
    cache = MemorySessionCache(ttl_seconds=10, max_entries=100, clock=clock)
    for n in range(5):
        cache.set(f"old{n}", context(n))
    clock.now += 5
    cache.set("fresh", context(9))
    clock.now += 6
    assert cache.purge_expired() == 5
    assert len(cache) == 1
    assert cache.purge_expired() == 0


def test_without_redis_the_cache_is_memory():
    cache = FallbackSessionCache(None, MemorySessionCache(60, 10))
    cache.set("s", context(1))
    assert (cache.mode, cache.get("s")) == ("memory", context(1))
