"""The session cache: conversation context under a TTL in Redis, or in memory without it.

Without REDIS_URL, and while Redis is down, entries live in memory as (value, expiry) pairs, at most
CACHE_MAX_ENTRIES of them (the least recently used go first), and a job purges expired ones every
CACHE_CLEANUP_MINUTES. After a Redis error the cache stays in memory for REDIS_RETRY_SECONDS, so
requests do not each wait for a dead Redis's timeout, then tries Redis again (a breaker with one failure
to open it, kept as a timestamp: pybreaker's lock around every call serialised the message threads on
the cache, issue 19). Switches are logged once each.

An entry carries the conversation's credential hash, so a message with a cached session is authorised
without a database read (issue 14's check, against the hash the database holds).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import redis

from services.chat.application.ports import SessionContext
from services.runtime.errors import Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long the cache stays in memory after Redis failed before it tries Redis again.
REDIS_RETRY_SECONDS = 5.0


def _encode(context: SessionContext) -> str:
    return json.dumps(
        {
            "conversation_id": context.conversation_id,
            "has_contact": context.has_contact,
            "recent": context.recent,
            "flags": context.flags,
            "token_hash": context.token_hash,
        },
        ensure_ascii=False,
    )


def _decode(raw: str | bytes) -> SessionContext:
    data = json.loads(raw)
    flags = data.get("flags")  # absent in entries written before it existed
    return SessionContext(
        data["conversation_id"],
        data["has_contact"],
        [tuple(pair) for pair in data["recent"]],
        tuple(flags) if flags is not None else None,
        # Absent in entries written before credentials: the message then reads the database.
        data.get("token_hash"),
    )


class MemorySessionCache:
    """(value, expiry) entries, bounded; expired entries are never returned and are purged by a job."""

    def __init__(
        self, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[SessionContext, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session_id: str) -> SessionContext | None:
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None:
                return None
            value, expiry = entry
            if expiry <= self._clock():
                del self._entries[session_id]
                return None
            self._entries.move_to_end(session_id)
            return value

    def set(self, session_id: str, context: SessionContext) -> None:
        with self._lock:
            self._entries[session_id] = (context, self._clock() + self._ttl)
            self._entries.move_to_end(session_id)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._entries.pop(session_id, None)

    def purge_expired(self) -> int:
        """Removes expired entries; answers how many."""
        now = self._clock()
        with self._lock:
            expired = [key for key, (_, expiry) in self._entries.items() if expiry <= now]
            for key in expired:
                del self._entries[key]
        if expired:
            log.info("session cache: purged %d expired entries", len(expired))
        return len(expired)

    def __len__(self) -> int:
        return len(self._entries)


class RedisSessionCache:
    def __init__(self, client: redis.Redis, prefix: str, ttl_seconds: float) -> None:
        self._client = client
        self._prefix = f"{prefix}:chat:session:"
        self._ttl_ms = int(ttl_seconds * 1000)

    def get(self, session_id: str) -> SessionContext | None:
        raw = self._client.get(self._prefix + session_id)
        return _decode(raw) if raw is not None else None

    def set(self, session_id: str, context: SessionContext) -> None:
        self._client.set(self._prefix + session_id, _encode(context), px=self._ttl_ms)

    def delete(self, session_id: str) -> None:
        self._client.delete(self._prefix + session_id)


class FallbackSessionCache:
    """Redis while it answers, memory otherwise."""

    def __init__(
        self,
        primary: RedisSessionCache | None,
        fallback: MemorySessionCache,
        retry_seconds: float = REDIS_RETRY_SECONDS,
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._retry_seconds = retry_seconds
        self._memory_until = 0.0  # time.monotonic() before which Redis is not tried (after an error)
        self._using_redis = primary is not None

    @property
    def mode(self) -> str:
        return "redis" if self._using_redis else "memory"

    def get(self, session_id: str) -> SessionContext | None:
        return self._through_redis(
            lambda cache: cache.get(session_id), lambda: self._fallback.get(session_id)
        )

    def set(self, session_id: str, context: SessionContext) -> None:
        self._through_redis(
            lambda cache: cache.set(session_id, context), lambda: self._fallback.set(session_id, context)
        )

    def delete(self, session_id: str) -> None:
        """Forgets the session in memory and in Redis. Unlike reads and writes this does not fall back:
        an entry Redis may still hold is not forgotten, so a Redis that cannot be reached is an error."""
        self._fallback.delete(session_id)
        if self._primary is None:
            return
        try:
            self._primary.delete(session_id)
        except redis.RedisError as error:
            raise Unavailable(f"the session cache (Redis) is unavailable: {type(error).__name__}") from None

    def _through_redis(self, use: Callable[[RedisSessionCache], T], fallback: Callable[[], T]) -> T:
        primary = self._primary
        if primary is None or time.monotonic() < self._memory_until:
            return fallback()
        try:
            result = use(primary)
        except redis.RedisError as error:
            self._memory_until = time.monotonic() + self._retry_seconds
            if self._using_redis:
                self._using_redis = False
                log.warning("session cache: Redis unavailable (%s); using memory", error)
            return fallback()
        if not self._using_redis:
            self._using_redis = True
            log.warning("session cache: Redis is back; using Redis")
        return result
