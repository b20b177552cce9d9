"""Wires the consent service: settings -> engine -> unit of work -> use cases -> servicer -> server."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from novahouse.consent.v1 import consent_pb2, consent_pb2_grpc
from services.consent.adapters.pseudonym_key import load_or_create_key
from services.consent.adapters.repository import ConsentUnitOfWork
from services.consent.application.service import ConsentService
from services.consent.domain.pseudonym import Pseudonymizer
from services.consent.settings import ConsentSettings
from services.consent.transport.servicer import ConsentServicer
from services.runtime.db import create_db_engine, create_session_factory
from services.runtime.diagnostics import Diagnostics, database_probe
from services.runtime.grpc_server import ServiceDefinition
from services.runtime.migrations import MigrationHistory
from services.runtime.service_main import Application, ServiceEntryPoint

SERVICE_NAME = consent_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name
MIGRATIONS = MigrationHistory(Path(__file__).parent / "adapters" / "migrations", "alembic_version_consent")


def build_service(settings: ConsentSettings, engine: Engine) -> ConsentService:
    key = settings.pseudonym_key or load_or_create_key(settings.generated_key_path)
    sessions = create_session_factory(engine)
    return ConsentService(lambda: ConsentUnitOfWork(sessions), Pseudonymizer(key))


def build(settings: ConsentSettings) -> Application:
    engine = create_db_engine(settings.database_url, pool_size=settings.server.max_workers)
    servicer = ConsentServicer(build_service(settings, engine))
    definition = ServiceDefinition(
        SERVICE_NAME, lambda server: consent_pb2_grpc.add_ConsentServiceServicer_to_server(servicer, server)
    )
    diagnostics = Diagnostics("consent")
    diagnostics.add_probe("database", database_probe(engine))
    return Application(services=[definition], diagnostics=diagnostics, on_stop=engine.dispose)


ENTRY_POINT = ServiceEntryPoint(
    name="consent", load_settings=ConsentSettings.from_env, migrations=MIGRATIONS, build=build
)
