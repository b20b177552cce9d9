"""Wires the chat service: settings -> storage, cache, clients, responder -> use cases -> servicer,
scheduler, outbox relay, server."""

from __future__ import annotations

from pathlib import Path

from novahouse.chat.v1 import chat_pb2, chat_pb2_grpc
from novahouse.privacy.v1 import privacy_pb2, privacy_pb2_grpc
from services.chat.adapters.llm import LlmResponder
from services.chat.adapters.repository import ChatUnitOfWork
from services.chat.adapters.session_cache import FallbackSessionCache, MemorySessionCache, RedisSessionCache
from services.chat.adapters.upstream import ConsentClient, UpstreamRelayTarget
from services.chat.application.conversations import ConversationService
from services.chat.application.followups import FollowupService
from services.chat.application.metrics import outbox_source
from services.chat.application.ports import Responder
from services.chat.application.privacy import ChatPrivacy
from services.chat.application.relay import OutboxRelay
from services.chat.domain.responder import RuleResponder
from services.chat.settings import ChatSettings
from services.chat.transport.servicer import ChatServicer
from services.runtime.breakers import Breaker
from services.runtime.db import DATABASE_UNAVAILABLE, create_db_engine, create_session_factory
from services.runtime.diagnostics import Diagnostics, database_probe
from services.runtime.grpc_client import open_channel
from services.runtime.grpc_server import ServiceDefinition
from services.runtime.metrics import SCRAPE_SOURCES, breaker_states
from services.runtime.migrations import MigrationHistory
from services.runtime.privacy_servicer import JsonPrivacyServicer
from services.runtime.redis_client import connect_redis
from services.runtime.scheduler import JobScheduler
from services.runtime.service_main import Application, ServiceEntryPoint

SERVICE_NAME = chat_pb2.DESCRIPTOR.services_by_name["ChatService"].full_name
PRIVACY_SERVICE_NAME = privacy_pb2.DESCRIPTOR.services_by_name["PrivacyService"].full_name
RETENTION_INTERVAL_SECONDS = 24 * 3600
MIGRATIONS = MigrationHistory(Path(__file__).parent / "adapters" / "migrations", "alembic_version_chat")


def _responder(settings: ChatSettings, rules: RuleResponder, breaker: Breaker | None) -> Responder:
    if settings.llm is None or breaker is None:
        return rules
    llm = settings.llm
    return LlmResponder(llm.url, llm.api_key, llm.model, llm.timeout_seconds, breaker, rules)


def build(settings: ChatSettings) -> Application:
    engine = create_db_engine(settings.database_url, pool_size=settings.server.max_workers)
    sessions = create_session_factory(engine)

    def unit_of_work() -> ChatUnitOfWork:
        return ChatUnitOfWork(sessions)

    redis_client = connect_redis(settings.redis_url) if settings.redis_url else None
    memory = MemorySessionCache(settings.session_timeout_seconds, settings.cache_max_entries)
    redis_cache = (
        RedisSessionCache(redis_client, settings.redis_key_prefix, settings.session_timeout_seconds)
        if redis_client is not None
        else None
    )
    cache = FallbackSessionCache(redis_cache, memory)
    consent_channel = open_channel(settings.consent_address, settings.server.security)
    notifier_channel = open_channel(settings.notifier_address, settings.server.security)
    relay = OutboxRelay(
        unit_of_work,
        UpstreamRelayTarget(consent_channel, notifier_channel, settings.upstream_timeout_seconds),
        interval_seconds=settings.outbox_relay_seconds,
        lease_seconds=settings.outbox_lease_seconds,
        backoff_base=settings.outbox_backoff_seconds,
        backoff_max=settings.outbox_backoff_max_seconds,
        storage_unavailable=DATABASE_UNAVAILABLE,
    )
    rules = RuleResponder.from_file()
    llm_breaker = (
        Breaker(
            "llm",
            settings.breakers,
            redis_client=redis_client,
            namespace=f"{settings.redis_key_prefix}:chat:breaker",
        )
        if settings.llm is not None
        else None
    )
    responder = _responder(settings, rules, llm_breaker)
    conversations = ConversationService(
        unit_of_work,
        responder,
        cache,
        alert_threshold=settings.lead_alert_threshold,
        consent_text_version=settings.consent_text_version,
        on_outbox_work=relay.wake,
    )
    followups = FollowupService(
        unit_of_work,
        ConsentClient(consent_channel, settings.upstream_timeout_seconds),
        delays=settings.followup_delays,
        texts=rules.followup,
        on_outbox_work=relay.wake,
        public_base_url=settings.public_base_url,
    )
    servicer = ChatServicer(conversations, followups, settings.server.security.admin_key)
    privacy = ChatPrivacy(unit_of_work, cache, retention_days=settings.retention_days)
    privacy_servicer = JsonPrivacyServicer("chat", privacy)

    scheduler = JobScheduler(enabled=settings.scheduler_enabled)
    scheduler.every(settings.followup_scan_seconds, "followup_scan", followups.run_due)
    scheduler.every(settings.cache_cleanup_seconds, "session_cache_purge", memory.purge_expired)
    scheduler.every(RETENTION_INTERVAL_SECONDS, "chat_retention", privacy.erase_inactive)
    relay.start()

    diagnostics = Diagnostics("chat")
    diagnostics.add_probe("database", database_probe(engine))
    diagnostics.add_probe("session_cache", lambda: cache.mode, required=False)
    diagnostics.add_probe("outbox", lambda: f"{relay.pending()} calls waiting", required=False)

    SCRAPE_SOURCES.add("chat_outbox", outbox_source(relay.pending))
    if llm_breaker is not None:
        SCRAPE_SOURCES.add("chat_breakers", lambda: [breaker_states({"llm": llm_breaker.status().state})])

    def close() -> None:
        SCRAPE_SOURCES.remove("chat_outbox")
        SCRAPE_SOURCES.remove("chat_breakers")
        relay.stop()
        consent_channel.close()
        notifier_channel.close()
        engine.dispose()
        if redis_client is not None:
            redis_client.close()

    definitions = [
        ServiceDefinition(
            SERVICE_NAME, lambda server: chat_pb2_grpc.add_ChatServiceServicer_to_server(servicer, server)
        ),
        ServiceDefinition(
            PRIVACY_SERVICE_NAME,
            lambda server: privacy_pb2_grpc.add_PrivacyServiceServicer_to_server(privacy_servicer, server),
        ),
    ]
    return Application(services=definitions, diagnostics=diagnostics, scheduler=scheduler, on_stop=close)


ENTRY_POINT = ServiceEntryPoint(
    name="chat", load_settings=ChatSettings.from_env, migrations=MIGRATIONS, build=build
)
