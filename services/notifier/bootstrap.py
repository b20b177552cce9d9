"""Wires the notifier: settings -> sinks behind breakers -> use cases -> servicer, scheduler, server."""

from __future__ import annotations

import threading
from pathlib import Path

from novahouse.notifier.v1 import notifier_pb2, notifier_pb2_grpc
from novahouse.privacy.v1 import privacy_pb2, privacy_pb2_grpc
from services.notifier.adapters.outcomes import SqlOutcomeLog
from services.notifier.adapters.repository import NotifierUnitOfWork
from services.notifier.adapters.sinks.monday import MondayGraphQLSink
from services.notifier.adapters.sinks.slack import SlackWebhookSink
from services.notifier.adapters.sinks.smtp import SmtpSink
from services.notifier.application.dead_letters import DeadLetterAdmin
from services.notifier.application.delivery import DeliveryService
from services.notifier.application.dispatcher import Dispatcher, Route
from services.notifier.application.escalation import Escalation
from services.notifier.application.metrics import breaker_source, dlq_source
from services.notifier.application.ports import Sink
from services.notifier.application.privacy import NotifierPrivacy
from services.notifier.domain.model import Channel, PermanentFailure, RateLimited
from services.notifier.domain.retry_policy import RetryPolicy
from services.notifier.settings import NotifierSettings
from services.notifier.transport.servicer import NotifierServicer
from services.runtime.breakers import Breaker
from services.runtime.db import DATABASE_UNAVAILABLE, create_db_engine, create_session_factory
from services.runtime.diagnostics import Diagnostics, database_probe
from services.runtime.grpc_server import ServiceDefinition
from services.runtime.metrics import SCRAPE_SOURCES
from services.runtime.migrations import MigrationHistory
from services.runtime.privacy_servicer import JsonPrivacyServicer
from services.runtime.redis_client import connect_redis, redis_probe
from services.runtime.scheduler import JobScheduler
from services.runtime.service_main import Application, ServiceEntryPoint

SERVICE_NAME = notifier_pb2.DESCRIPTOR.services_by_name["NotifierService"].full_name
MIGRATIONS = MigrationHistory(Path(__file__).parent / "adapters" / "migrations", "alembic_version_notifier")
PRIVACY_SERVICE_NAME = privacy_pb2.DESCRIPTOR.services_by_name["PrivacyService"].full_name
CLEANUP_INTERVAL_SECONDS = 24 * 3600


def _sinks(settings: NotifierSettings) -> dict[Channel, Sink]:
    sinks: dict[Channel, Sink] = {}
    timeout = settings.sink_timeout_seconds
    if settings.slack:
        sinks[Channel.SLACK] = SlackWebhookSink(settings.slack.webhook_url, timeout)
    if settings.monday:
        monday = settings.monday
        sinks[Channel.MONDAY] = MondayGraphQLSink(monday.api_url, monday.api_key, monday.board_id, timeout)
    if settings.smtp:
        smtp = settings.smtp
        sinks[Channel.EMAIL] = SmtpSink(
            smtp.host,
            smtp.port,
            smtp.sender,
            security=smtp.security,
            timeout=timeout,
            user=smtp.user,
            password=smtp.password,
            ca_file=smtp.ca_file,
        )
    return sinks


def build(settings: NotifierSettings) -> Application:
    engine = create_db_engine(settings.database_url, pool_size=settings.server.max_workers)
    sessions = create_session_factory(engine)
    redis_client = connect_redis(settings.redis_url) if settings.redis_url else None
    sinks = _sinks(settings)
    routes = {
        channel: Route(
            sink=sink,
            # A rejected payload or a rate limit is an answer from a healthy sink, not an outage.
            breaker=Breaker(
                channel.value,
                settings.breakers,
                redis_client=redis_client,
                namespace=f"{settings.redis_key_prefix}:notifier:breaker",
                exclude=(PermanentFailure, RateLimited),
            ),
            gate=threading.Lock(),
        )
        for channel, sink in sinks.items()
    }

    def unit_of_work() -> NotifierUnitOfWork:
        return NotifierUnitOfWork(sessions)

    dispatcher = Dispatcher(routes, settings.missing)
    delivery = DeliveryService(
        unit_of_work,
        dispatcher,
        RetryPolicy(settings.max_retries, settings.backoff_base_seconds, settings.backoff_max_seconds),
        Escalation(unit_of_work, dispatcher, settings.escalation_email),
        lease_seconds=settings.lease_seconds,
        storage_unavailable=DATABASE_UNAVAILABLE,
        outcomes=lambda: SqlOutcomeLog(engine),
    )
    dead_letters = DeadLetterAdmin(unit_of_work, dispatcher, cleanup_days=settings.cleanup_days)
    servicer = NotifierServicer(delivery, dead_letters)
    privacy_servicer = JsonPrivacyServicer("notifier", NotifierPrivacy(unit_of_work))
    scheduler = JobScheduler(enabled=settings.scheduler_enabled)
    scheduler.every(settings.retry_interval_seconds, "dlq_retry", delivery.retry)
    scheduler.every(CLEANUP_INTERVAL_SECONDS, "dlq_cleanup", dead_letters.cleanup)
    diagnostics = Diagnostics("notifier")
    diagnostics.add_probe("database", database_probe(engine))
    if redis_client is not None:
        diagnostics.add_probe("redis", redis_probe(redis_client), required=False)

    SCRAPE_SOURCES.add("notifier_dlq", dlq_source(dead_letters.stats))
    SCRAPE_SOURCES.add("notifier_breakers", breaker_source(dead_letters.breakers))

    def close() -> None:
        SCRAPE_SOURCES.remove("notifier_dlq")
        SCRAPE_SOURCES.remove("notifier_breakers")
        engine.dispose()
        for sink in sinks.values():  # kept connections (the SMTP relay's, the HTTP sinks' pools)
            sink.close()
        if redis_client is not None:
            redis_client.close()

    definitions = [
        ServiceDefinition(
            SERVICE_NAME,
            lambda server: notifier_pb2_grpc.add_NotifierServiceServicer_to_server(servicer, server),
        ),
        ServiceDefinition(
            PRIVACY_SERVICE_NAME,
            lambda server: privacy_pb2_grpc.add_PrivacyServiceServicer_to_server(privacy_servicer, server),
        ),
    ]
    return Application(services=definitions, diagnostics=diagnostics, scheduler=scheduler, on_stop=close)


ENTRY_POINT = ServiceEntryPoint(
    name="notifier", load_settings=NotifierSettings.from_env, migrations=MIGRATIONS, build=build
)
