"""The whole system as an operator runs it: four processes (`python -m services.<name>`) on free ports,
against PostgreSQL and Redis when the run has them (SQLite and memory otherwise), with fake Slack,
Monday and SMTP servers. Tests drive it only from outside: HTTP to the gateway, and gRPC through
server reflection as grpcurl does."""

from __future__ import annotations

import pytest

from tests.support.fake_sinks import FakeHttpSink, FakeSmtpServer
from tests.support.widget import WidgetClient


@pytest.fixture(scope="module")
def sinks():
    slack, monday, smtp = FakeHttpSink("slack"), FakeHttpSink("monday"), FakeSmtpServer()
    yield slack, monday, smtp
    slack.close()
    monday.close()
    smtp.close()


@pytest.fixture(scope="module")
def sinks_environ(sinks) -> dict[str, str]:
    slack, monday, smtp = sinks
    return {
        "SLACK_WEBHOOK_URL": slack.url,
        "MONDAY_API_URL": monday.url,
        "MONDAY_API_KEY": "e2e-monday-key",
        "MONDAY_BOARD_ID": "777",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "hello@novahouse.example.com",
    }


@pytest.fixture(scope="module")
def http(stack):
    with WidgetClient(base_url=stack.url, timeout=15) as client:
        yield client
