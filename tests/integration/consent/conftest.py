"""A migrated consent database on each backend, and the consent service on a real gRPC channel."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy.engine import URL

from novahouse.consent.v1 import consent_pb2_grpc
from services.consent.bootstrap import ENTRY_POINT
from services.consent.settings import ConsentSettings
from services.runtime.config import Environment
from tests.support.services import consent_environ


def consent_settings(database_url: URL, var_dir: str, **overrides: str) -> ConsentSettings:
    return ConsentSettings.from_env(Environment(consent_environ(database_url, var_dir, **overrides)))


@pytest.fixture
def consent_database(databases) -> URL:
    """An empty, migrated consent database on the backend under test."""
    return databases("consent")


@pytest.fixture
def consent_server(consent_database, tmp_path):
    running = ENTRY_POINT.start(consent_settings(consent_database, str(tmp_path)))
    yield f"127.0.0.1:{running.port}"
    running.stop()


@pytest.fixture
def consent_channel(consent_server):
    with grpc.insecure_channel(consent_server) as channel:
        yield channel


@pytest.fixture
def consent(consent_channel):
    return consent_pb2_grpc.ConsentServiceStub(consent_channel)
