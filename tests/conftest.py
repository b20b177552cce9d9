"""Test-wide fixtures: which real servers are available.

Tests run against real PostgreSQL (TEST_DATABASE_URL) and Redis (TEST_REDIS_URL) when they are set, and
against SQLite / in-memory otherwise, so `make test` also passes on a bare machine. `.ci/run` sets
TEST_REQUIRE_SERVICES=1: then a missing or unreachable server stops the run as a failure instead of
skipping the tests that need it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis
from sqlalchemy.engine import URL

from tests.support.databases import (
    fresh_postgres_database,
    postgres_admin_url,
    postgres_reachable,
    service_schemas,
    truncate_all,
)
from tests.support.fake_sinks import ESCALATION_EMAIL, FakeHttpSink, FakeSmtpServer
from tests.support.postgres_server import PrivatePostgres, postgres_binaries
from tests.support.redis_server import PrivateRedis

REQUIRE_SERVICES = os.environ.get("TEST_REQUIRE_SERVICES", "") == "1"
UNIT_TESTS = Path(__file__).parent / "unit"


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


def pytest_collection_finish(session: pytest.Session) -> None:
    """Checks the servers once the tests are known: a run of tests/unit alone needs none."""
    if not REQUIRE_SERVICES or all(_is_unit(item) for item in session.items):
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


def _is_unit(item: pytest.Item) -> bool:
    return UNIT_TESTS in item.path.parents


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


@pytest.fixture
def private_redis():
    """A redis-server of the test's own, which it may stop and start (the shared one never is)."""
    if shutil.which("redis-server") is None:
        _unavailable("redis-server is not installed")
    server = PrivateRedis().start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def private_postgres():
    """A PostgreSQL server of the module's own, which its tests may stop and start (the shared one
    never is); tests create their own databases on it."""
    if postgres_binaries() is None:
        _unavailable("initdb/pg_ctl are not installed")
    server = PrivatePostgres().start()
    yield server
    server.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Runs a test once per database backend."""
    return request.param


@pytest.fixture(scope="session")
def postgres_databases(postgres_admin):
    """service name -> a migrated database of its own on the test server, created once per session."""
    created: dict[str, URL] = {}
    with ExitStack() as stack:

        def database(service: str) -> URL:
            if service not in created:
                url = stack.enter_context(fresh_postgres_database(postgres_admin, service))
                service_schemas()[service][0].upgrade(url)
                created[service] = url
            return created[service]

        yield database


@pytest.fixture
def databases(backend, tmp_path, request) -> Callable[[str], URL]:
    """service name -> an empty, migrated database for that service on the backend under test (a new
    SQLite file, or the session's PostgreSQL database emptied)."""
    from services.runtime.db import normalise_url

    def database(service: str) -> URL:
        history, metadata = service_schemas()[service]
        if backend == "sqlite":
            url = normalise_url(f"sqlite:///{tmp_path}/{service}.db")
            history.upgrade(url)
            return url
        url = request.getfixturevalue("postgres_databases")(service)
        truncate_all(url, metadata)
        return url

    return database


@pytest.fixture
def slack():
    sink = FakeHttpSink("slack")
    yield sink
    sink.close()


@pytest.fixture
def monday():
    sink = FakeHttpSink("monday")
    yield sink
    sink.close()


@pytest.fixture
def smtp():
    server = FakeSmtpServer()
    yield server
    server.close()


@pytest.fixture
def sinks_environ(slack, monday, smtp) -> dict[str, str]:
    return {
        "SLACK_WEBHOOK_URL": slack.url,
        "MONDAY_API_URL": monday.url,
        "MONDAY_API_KEY": "monday-test-key",
        "MONDAY_BOARD_ID": "4242",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "alerts@novahouse.example.com",
        "ESCALATION_EMAIL": ESCALATION_EMAIL,
    }
