"""The notifier against real databases, real (fake) Slack/Monday/SMTP servers and, optionally, Redis."""

from __future__ import annotations

import uuid

import grpc
import pytest
from sqlalchemy.engine import URL

from novahouse.notifier.v1 import notifier_pb2_grpc
from services.notifier.adapters.tables import metadata
from services.notifier.bootstrap import ENTRY_POINT
from services.notifier.settings import NotifierSettings
from services.runtime.config import Environment
from services.runtime.db import normalise_url
from tests.support.databases import fresh_postgres_database, truncate_all
from tests.support.fake_sinks import FakeHttpSink, FakeSmtpServer

ESCALATION_EMAIL = "ops@novahouse.example.com"


def notifier_environ(database_url: URL, var_dir: str, **overrides: str) -> dict[str, str]:
    return {
        "NOTIFIER_PORT": "0",
        "NOTIFIER_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "VAR_DIR": var_dir,
        "AUTO_MIGRATE": "false",
        "SCHEDULER_ENABLED": "false",  # tests run passes explicitly unless they test the scheduler
        "SINK_TIMEOUT_SECONDS": "0.5",
        "CB_FAIL_MAX": "5",
        "CB_RESET_TIMEOUT": "1",
        "DLQ_BACKOFF_SECONDS": "0.05",
        "DLQ_BACKOFF_MAX_SECONDS": "0.2",
        **overrides,
    }


@pytest.fixture(scope="session")
def notifier_postgres(postgres_admin, tmp_path_factory):
    with fresh_postgres_database(postgres_admin, "notifier") as url:
        var_dir = str(tmp_path_factory.mktemp("var"))
        ENTRY_POINT.migrate(NotifierSettings.from_env(Environment(notifier_environ(url, var_dir))))
        yield url


@pytest.fixture
def notifier_database(backend, tmp_path, request) -> URL:
    if backend == "sqlite":
        url = normalise_url(f"sqlite:///{tmp_path}/notifier.db")
        ENTRY_POINT.migrate(NotifierSettings.from_env(Environment(notifier_environ(url, str(tmp_path)))))
        return url
    url = request.getfixturevalue("notifier_postgres")
    truncate_all(url, metadata)
    return url


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


class Notifiers:
    """Starts in-process notifier servers on one database; all are stopped after the test."""

    def __init__(self, database_url: URL, var_dir: str, sinks_environ: dict[str, str]) -> None:
        self._database_url = database_url
        self._var_dir = var_dir
        self._sinks_environ = sinks_environ
        self._running = []
        self._channels = []

    def start(self, **overrides: str) -> notifier_pb2_grpc.NotifierServiceStub:
        environ = notifier_environ(self._database_url, self._var_dir, **{**self._sinks_environ, **overrides})
        running = ENTRY_POINT.start(NotifierSettings.from_env(Environment(environ)))
        self._running.append(running)
        channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
        self._channels.append(channel)
        return notifier_pb2_grpc.NotifierServiceStub(channel)

    def close(self) -> None:
        for channel in self._channels:
            channel.close()
        for running in self._running:
            running.stop()


@pytest.fixture
def notifiers(notifier_database, tmp_path, sinks_environ):
    started = Notifiers(notifier_database, str(tmp_path), sinks_environ)
    yield started
    started.close()


@pytest.fixture
def notifier(notifiers):
    """One notifier with every channel configured, breakers in memory, no scheduler."""
    return notifiers.start()


@pytest.fixture
def redis_prefix(redis_url):
    """A key prefix of this test's own on the shared Redis."""
    return f"test-{uuid.uuid4().hex[:12]}"
