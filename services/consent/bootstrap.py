"""Wires the consent service: settings -> engine -> unit of work -> use cases -> servicer -> server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy import Engine

from novahouse.consent.v1 import consent_pb2, consent_pb2_grpc
from novahouse.privacy.v1 import privacy_pb2, privacy_pb2_grpc
from services.consent.adapters.notifier import NotifierMailer
from services.consent.adapters.pseudonym_key import load_or_create_key
from services.consent.adapters.repository import ConsentUnitOfWork
from services.consent.application.optin import OptIn, OptInSettings
from services.consent.application.ports import ConfirmationMailer
from services.consent.application.privacy import ConsentPrivacy
from services.consent.application.service import ConsentService
from services.consent.domain.pseudonym import Pseudonymizer
from services.consent.settings import ConsentSettings
from services.consent.transport.privacy_servicer import ConsentPrivacyServicer
from services.consent.transport.servicer import ConsentServicer
from services.runtime.db import create_db_engine, create_session_factory, utcnow
from services.runtime.diagnostics import Diagnostics, database_probe
from services.runtime.grpc_client import open_channel
from services.runtime.grpc_server import ServiceDefinition
from services.runtime.migrations import MigrationHistory
from services.runtime.service_main import Application, ServiceEntryPoint
from services.runtime.signed_links import LinkSigner

SERVICE_NAME = consent_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name
PRIVACY_SERVICE_NAME = privacy_pb2.DESCRIPTOR.services_by_name["PrivacyService"].full_name
MIGRATIONS = MigrationHistory(Path(__file__).parent / "adapters" / "migrations", "alembic_version_consent")


def build_service(
    settings: ConsentSettings, engine: Engine, mailer: ConfirmationMailer | None = None
) -> tuple[ConsentService, OptIn | None]:
    key = settings.pseudonym_key or load_or_create_key(settings.generated_key_path)
    sessions = create_session_factory(engine)

    def unit_of_work() -> ConsentUnitOfWork:
        return ConsentUnitOfWork(sessions)

    opt_in = None
    if mailer is not None:
        secrets = settings.link_secrets or (load_or_create_key(settings.generated_link_key_path),)
        opt_in = OptIn(
            unit_of_work,
            LinkSigner(secrets),
            mailer,
            OptInSettings(settings.public_base_url, settings.confirm_days, settings.confirm_resend_hours),
            utcnow,
        )
    return ConsentService(unit_of_work, Pseudonymizer(key), opt_in=opt_in), opt_in


def build_privacy(settings: ConsentSettings, engine: Engine) -> ConsentPrivacy:
    """Export, erasure and the audit log's verification (docs/privacy.md)."""
    key = settings.pseudonym_key or load_or_create_key(settings.generated_key_path)
    sessions = create_session_factory(engine)
    return ConsentPrivacy(lambda: ConsentUnitOfWork(sessions), Pseudonymizer(key))


def build(settings: ConsentSettings) -> Application:
    engine = create_db_engine(settings.database_url, pool_size=settings.server.max_workers)
    notifier_channel = open_channel(settings.notifier_address)
    mailer = NotifierMailer(notifier_channel, settings.upstream_timeout_seconds)
    service, opt_in = build_service(settings, engine, mailer)
    privacy = build_privacy(settings, engine)
    servicer = ConsentServicer(service, opt_in, privacy)
    privacy_servicer = ConsentPrivacyServicer(privacy)
    definitions = [
        ServiceDefinition(
            SERVICE_NAME,
            lambda server: consent_pb2_grpc.add_ConsentServiceServicer_to_server(servicer, server),
        ),
        ServiceDefinition(
            PRIVACY_SERVICE_NAME,
            lambda server: privacy_pb2_grpc.add_PrivacyServiceServicer_to_server(privacy_servicer, server),
        ),
    ]
    diagnostics = Diagnostics("consent")
    diagnostics.add_probe("database", database_probe(engine))

    def close() -> None:
        notifier_channel.close()
        engine.dispose()

    return Application(services=definitions, diagnostics=diagnostics, on_stop=close)


def verify_audit(settings: ConsentSettings) -> int:
    """`python -m services.consent verify-audit`: prints the result as JSON; exit status 1 if broken."""
    engine = create_db_engine(settings.database_url, pool_size=1)
    try:
        result = build_privacy(settings, engine).verify()
    finally:
        engine.dispose()
    print(
        json.dumps(
            {
                "ok": result.ok,
                "entries_checked": result.entries_checked,
                "head_hash": result.head_hash,
                "first_invalid_entry_id": str(result.first_invalid_entry_id or ""),
                "problem": result.problem,
            }
        ),
        file=sys.stdout,
    )
    return 0 if result.ok else 1


ENTRY_POINT = ServiceEntryPoint(
    name="consent",
    load_settings=ConsentSettings.from_env,
    migrations=MIGRATIONS,
    build=build,
    commands={"verify-audit": verify_audit},
)
