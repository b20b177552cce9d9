"""Chat with real consent and notifier services (in-process gRPC servers) and fake Slack, Monday and SMTP
sinks behind the notifier, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.support.stack import ChatStack


@pytest.fixture
def stack(databases, tmp_path, sinks_environ):
    running = ChatStack(databases, str(tmp_path), sinks_environ)
    yield running
    running.close()


@pytest.fixture
def chat(stack):
    return stack.chat
