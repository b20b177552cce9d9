"""The gateway in front of the real consent, notifier and chat services (in-process gRPC servers, fake
Slack, Monday and SMTP behind the notifier), on each database backend, with the shared Redis when the
run has one. Rate limits are high: fuzzing must reach the routes, not the limiter."""

from __future__ import annotations

import os

import httpx
import pytest

from tests.support.gateway import ADMIN_KEY, UNSUBSCRIBE_SECRET, GatewayServer, unique_prefix
from tests.support.stack import ChatStack

HIGH_LIMITS = {
    "CHAT_RATE_LIMIT": "100000 per minute",
    "API_RATE_LIMIT_MINUTE": "100000 per minute",
    "API_RATE_LIMIT_HOUR": "100000 per hour",
}


@pytest.fixture
def gateway_url(databases, tmp_path, sinks_environ):
    stack = ChatStack(databases, str(tmp_path), sinks_environ)
    environ = {
        **stack.addresses,
        **HIGH_LIMITS,
        "ADMIN_API_KEY": ADMIN_KEY,
        "UNSUBSCRIBE_SECRET": UNSUBSCRIBE_SECRET,
        "REDIS_KEY_PREFIX": unique_prefix(),
    }
    redis_url = os.environ.get("TEST_REDIS_URL", "").strip()
    if redis_url:
        environ["REDIS_URL"] = redis_url
    gateway = GatewayServer(environ).start()
    yield gateway.url
    gateway.stop()
    stack.close()


@pytest.fixture
def admin(gateway_url):
    """An HTTP client of the gateway carrying the admin key."""
    with httpx.Client(base_url=gateway_url, headers={"X-ADMIN-API-KEY": ADMIN_KEY}, timeout=20) as client:
        yield client
