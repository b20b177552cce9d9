"""The fault suite: the four services as processes (tests/support/system.py) on a private PostgreSQL and a
private Redis that the tests stop, kill and restart under load, with fake Slack, Monday and SMTP
servers. Every test starts its own stack, with databases of its own on the module's server."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

import httpx
import pytest

from tests.support.system import Stack
from tests.support.widget import WidgetClient

# Short timeouts, leases and retry intervals, so an outage and the recovery after it take seconds.
FAST = {
    "consent": {},
    "notifier": {"DLQ_RETRY_MINUTES": "0.005", "DLQ_LEASE_SECONDS": "3"},
    "chat": {"OUTBOX_RELAY_SECONDS": "0.2", "OUTBOX_LEASE_SECONDS": "4"},
    "gateway": {"RATE_LIMIT_REDIS_RECHECK_SECONDS": "0.5"},
}


@pytest.fixture
def start_stack(tmp_path, private_postgres, private_redis, sinks_environ) -> Callable[..., Stack]:
    """start_stack(chat={...}, ...) -> a running Stack on the private servers, closed after the test."""
    with ExitStack() as exits:

        def start(**overrides: dict[str, str]) -> Stack:
            environ = {name: {**FAST[name], **overrides.get(name, {})} for name in FAST}
            stack = Stack(
                exits,
                str(tmp_path),
                sinks_environ,
                postgres=private_postgres.admin_url,
                redis_url=private_redis.url,
                **environ,
            )
            # Closed before its databases are dropped, which needs the server up even if a test failed
            # while it was stopped.
            exits.callback(private_postgres.start)
            exits.callback(stack.close)
            return stack

        yield start


@pytest.fixture
def http_client() -> Callable[[Stack], httpx.Client]:
    with ExitStack() as exits:
        yield lambda stack: exits.enter_context(WidgetClient(base_url=stack.url, timeout=15))
