"""The chat service's settings (docs/configuration.md), validated at start."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import URL

from services.runtime import consent_texts
from services.runtime.breakers import BreakerSettings
from services.runtime.config import Environment, ServerSettings, parse_host_port, parse_http_url
from services.runtime.db import normalise_url
from services.runtime.redis_client import parse_key_prefix, parse_redis_url
from services.runtime.signed_links import default_base_url, parse_base_url


@dataclass(frozen=True)
class LlmSettings:
    url: str
    api_key: str | None
    model: str
    timeout_seconds: float


@dataclass(frozen=True)
class ChatSettings:
    server: ServerSettings
    database_url: URL
    auto_migrate: bool
    consent_address: str
    notifier_address: str
    upstream_timeout_seconds: float
    redis_url: str | None
    redis_key_prefix: str
    session_timeout_seconds: float
    cache_cleanup_seconds: float
    cache_max_entries: int
    followup_delays: tuple[float, ...]
    followup_scan_seconds: float
    lead_alert_threshold: int
    consent_text_version: str
    scheduler_enabled: bool
    breakers: BreakerSettings
    llm: LlmSettings | None
    outbox_relay_seconds: float
    outbox_lease_seconds: float
    outbox_backoff_seconds: float
    outbox_backoff_max_seconds: float
    public_base_url: str
    retention_days: int

    @classmethod
    def from_env(cls, env: Environment) -> ChatSettings:
        server = ServerSettings.from_env(env, port_variable="CHAT_PORT", default_port=50053)
        upstream_timeout = env.number("UPSTREAM_TIMEOUT_SECONDS", 5.0, minimum=0.1, maximum=120)
        llm_url = env.parsed("LLM_API_URL", None, parse_http_url, "an http(s) URL")
        return cls(
            server=server,
            database_url=env.parsed(
                "CHAT_DATABASE_URL",
                normalise_url(f"sqlite:///{server.var_dir}/chat.db"),
                normalise_url,
                "a postgresql:// or sqlite:/// URL",
            ),
            auto_migrate=env.flag("AUTO_MIGRATE", True),
            consent_address=env.parsed("CONSENT_ADDR", "localhost:50051", parse_host_port, "host:port"),
            notifier_address=env.parsed("NOTIFIER_ADDR", "localhost:50052", parse_host_port, "host:port"),
            upstream_timeout_seconds=upstream_timeout,
            redis_url=env.parsed("REDIS_URL", None, parse_redis_url, "a redis:// URL"),
            redis_key_prefix=env.parsed(
                "REDIS_KEY_PREFIX", "novahouse", parse_key_prefix, "letters, digits, '-', '_' or ':'"
            ),
            session_timeout_seconds=env.number("SESSION_TIMEOUT_MINUTES", 30.0, minimum=0.001) * 60,
            cache_cleanup_seconds=env.number("CACHE_CLEANUP_MINUTES", 10.0, minimum=0.001) * 60,
            cache_max_entries=env.integer("CACHE_MAX_ENTRIES", 10_000, minimum=1),
            followup_delays=env.durations("FOLLOWUP_DELAYS", (1800.0, 86400.0, 259200.0)),
            followup_scan_seconds=env.number("FOLLOWUP_SCAN_SECONDS", 60.0, minimum=0.05),
            lead_alert_threshold=env.integer("LEAD_ALERT_THRESHOLD", 70, minimum=1, maximum=100),
            consent_text_version=env.text("CONSENT_TEXT_VERSION", consent_texts.catalogue().current.version),
            scheduler_enabled=env.flag("SCHEDULER_ENABLED", True),
            breakers=BreakerSettings.from_env(env),
            llm=LlmSettings(
                url=llm_url,
                api_key=env.optional("LLM_API_KEY"),
                model=env.text("LLM_MODEL", "gpt-4o-mini"),
                timeout_seconds=env.number("LLM_TIMEOUT_SECONDS", 10.0, minimum=0.1, maximum=120),
            )
            if llm_url
            else None,
            outbox_relay_seconds=env.number("OUTBOX_RELAY_SECONDS", 5.0, minimum=0.05),
            outbox_lease_seconds=env.number("OUTBOX_LEASE_SECONDS", 60.0, minimum=2 * upstream_timeout),
            outbox_backoff_seconds=env.number("OUTBOX_BACKOFF_SECONDS", 2.0, minimum=0.01),
            outbox_backoff_max_seconds=env.number("OUTBOX_BACKOFF_MAX_SECONDS", 300.0, minimum=0.01),
            public_base_url=env.parsed(
                "PUBLIC_BASE_URL",
                default_base_url(env.optional("GATEWAY_HOST"), env.optional("GATEWAY_PORT")),
                parse_base_url,
                "an http(s) URL such as https://novahouse.pl",
            ),
            retention_days=env.integer("CHAT_RETENTION_DAYS", 730, minimum=1),
        )
