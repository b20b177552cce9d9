"""The gateway on real HTTP in front of real gRPC servers: the real consent service (SQLite), fakes of
the notifier and chat services (tests/support/fake_upstreams.py), and the shared Redis when the run has
one (CI always does; each gateway gets its own key prefix). Rate limits are high unless a test lowers
them."""

from __future__ import annotations

import os

import httpx
import pytest
import redis

from tests.support.fake_upstreams import start_fake
from tests.support.gateway import ADMIN_KEY, UNSUBSCRIBE_SECRET, GatewayServer, unique_prefix
from tests.support.services import start_sqlite_consent

HIGH_LIMITS = {
    "CHAT_RATE_LIMIT": "1000 per minute",
    "API_RATE_LIMIT_HOUR": "1000 per hour",
    "API_RATE_LIMIT_MINUTE": "1000 per minute",
}


@pytest.fixture(scope="session")
def consent_upstream(tmp_path_factory):
    """The real consent service, shared by the gateway tests (they use distinct emails)."""
    running = start_sqlite_consent(str(tmp_path_factory.mktemp("consent")))
    yield f"127.0.0.1:{running.port}"
    running.stop()


@pytest.fixture
def chat():
    fake = start_fake("chat")
    yield fake
    fake.stop()


@pytest.fixture
def notifier():
    fake = start_fake("notifier")
    yield fake
    fake.stop()


@pytest.fixture
def upstream_environ(consent_upstream, chat, notifier):
    environ = {
        "CONSENT_ADDR": consent_upstream,
        "CHAT_ADDR": chat.address,
        "NOTIFIER_ADDR": notifier.address,
        "REDIS_KEY_PREFIX": unique_prefix(),
        "ADMIN_API_KEY": ADMIN_KEY,
        "UNSUBSCRIBE_SECRET": UNSUBSCRIBE_SECRET,
        **HIGH_LIMITS,
    }
    shared_redis = os.environ.get("TEST_REDIS_URL", "").strip()
    if shared_redis:
        environ["REDIS_URL"] = shared_redis
    yield environ
    if shared_redis:
        delete_keys(shared_redis, environ["REDIS_KEY_PREFIX"])


def delete_keys(url: str, prefix: str) -> None:
    """Removes this test's rate-limit keys from the shared Redis (only those: others use it too)."""
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass  # a test that broke Redis has said so already; expiry removes the keys anyway
    finally:
        client.close()


@pytest.fixture
def start_gateway(upstream_environ):
    """Starts a gateway with the test's upstreams; keyword arguments override variables (None unsets)."""
    started = []

    def start(**overrides: str | None) -> GatewayServer:
        environ = {**upstream_environ, **overrides}
        gateway = GatewayServer({k: v for k, v in environ.items() if v is not None}).start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture
def gateway(start_gateway):
    return start_gateway()


@pytest.fixture
def http(gateway):
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        yield client


@pytest.fixture
def admin():
    return {"X-ADMIN-API-KEY": ADMIN_KEY}
