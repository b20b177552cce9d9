"""The notifier against real databases, real (fake) Slack/Monday/SMTP servers and, optionally, Redis."""

from __future__ import annotations

import uuid

import grpc
import pytest
from sqlalchemy.engine import URL

from novahouse.notifier.v1 import notifier_pb2_grpc
from services.notifier.bootstrap import ENTRY_POINT
from services.notifier.settings import NotifierSettings
from services.runtime.config import Environment
from tests.support.services import notifier_environ


@pytest.fixture
def notifier_database(databases) -> URL:
    return databases("notifier")


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
