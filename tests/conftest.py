"""Test-wide fixtures: which real servers are available.

Tests run against real PostgreSQL (TEST_DATABASE_URL) and Redis (TEST_REDIS_URL) when they are set, and
against SQLite / in-memory otherwise, so `make test` also passes on a bare machine. `.ci/run` sets
TEST_REQUIRE_SERVICES=1: then a missing or unreachable server stops the run as a failure instead of
skipping the tests that need it.
"""

from __future__ import annotations

import os

import pytest
import redis
from sqlalchemy.engine import URL

from tests.support.databases import postgres_admin_url, postgres_reachable

REQUIRE_SERVICES = os.environ.get("TEST_REQUIRE_SERVICES", "") == "1"


def _redis_url() -> str | None:
    return os.environ.get("TEST_REDIS_URL", "").strip() or None


def _redis_reachable(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def pytest_sessionstart(session: pytest.Session) -> None:
    if not REQUIRE_SERVICES:
        return
    problems = []
    pg_url = postgres_admin_url()
    if pg_url is None:
        problems.append("TEST_DATABASE_URL is not set")
    elif not postgres_reachable(pg_url):
        problems.append(f"PostgreSQL at {pg_url.render_as_string()} is unreachable")
    redis_url = _redis_url()
    if redis_url is None:
        problems.append("TEST_REDIS_URL is not set")
    elif not _redis_reachable(redis_url):
        problems.append(f"Redis at {redis_url} is unreachable")
    if problems:
        pytest.exit("TEST_REQUIRE_SERVICES=1 but " + "; ".join(problems), returncode=3)


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_admin() -> URL:
    """The PostgreSQL server of TEST_DATABASE_URL (tests create their own databases on it)."""
    url = postgres_admin_url()
    if url is None or not postgres_reachable(url):
        _unavailable("no PostgreSQL: TEST_DATABASE_URL unset or unreachable")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = _redis_url()
    if url is None or not _redis_reachable(url):
        _unavailable("no Redis: TEST_REDIS_URL unset or unreachable")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Runs a test once per database backend."""
    return request.param
