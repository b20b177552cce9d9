"""A migrated consent database on each backend, and the consent service on a real gRPC channel."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy.engine import URL

from novahouse.consent.v1 import consent_pb2_grpc
from services.consent.adapters.tables import metadata
from services.consent.bootstrap import ENTRY_POINT
from services.consent.settings import ConsentSettings
from services.runtime.config import Environment
from services.runtime.db import normalise_url
from tests.support.databases import fresh_postgres_database, truncate_all

PSEUDONYM_KEY = "integration-test-pseudonym-key-0123456789"


def consent_settings(database_url: URL, var_dir: str, **overrides: str) -> ConsentSettings:
    environ = {
        "CONSENT_PORT": "0",
        "CONSENT_DATABASE_URL": database_url.render_as_string(hide_password=False),
        "CONSENT_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "VAR_DIR": var_dir,
        "AUTO_MIGRATE": "false",
        **overrides,
    }
    return ConsentSettings.from_env(Environment(environ))


@pytest.fixture(scope="session")
def consent_postgres(postgres_admin, tmp_path_factory):
    with fresh_postgres_database(postgres_admin, "consent") as url:
        ENTRY_POINT.migrate(consent_settings(url, str(tmp_path_factory.mktemp("var"))))
        yield url


@pytest.fixture
def consent_database(backend, tmp_path, request) -> URL:
    """An empty, migrated consent database on the backend under test."""
    if backend == "sqlite":
        url = normalise_url(f"sqlite:///{tmp_path}/consent.db")
        ENTRY_POINT.migrate(consent_settings(url, str(tmp_path)))
        return url
    url = request.getfixturevalue("consent_postgres")
    truncate_all(url, metadata)
    return url


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
