"""The notifier's settings (docs/configuration.md), validated at start. A channel whose variables are
not all set is off: Notify answers FAILED_PRECONDITION naming the missing variable."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from sqlalchemy.engine import URL

from services.notifier.domain.model import Channel
from services.runtime.breakers import BreakerSettings
from services.runtime.config import Environment, ServerSettings, parse_http_url
from services.runtime.db import normalise_url
from services.runtime.emails import normalise_email
from services.runtime.errors import InvalidArgument
from services.runtime.redis_client import parse_key_prefix, parse_redis_url

log = logging.getLogger(__name__)


def _address(raw: str) -> str:
    try:
        return normalise_email(raw)
    except InvalidArgument:
        raise ValueError(raw) from None


@dataclass(frozen=True)
class SlackSettings:
    webhook_url: str = field(repr=False)  # the token is in the path


@dataclass(frozen=True)
class MondaySettings:
    api_url: str
    api_key: str = field(repr=False)
    board_id: str


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    security: str
    user: str | None
    password: str | None = field(repr=False)
    ca_file: str | None = None  # PEM bundle the relay's certificate must chain to; system CAs if unset


@dataclass(frozen=True)
class NotifierSettings:
    server: ServerSettings
    database_url: URL
    auto_migrate: bool
    redis_url: str | None
    redis_key_prefix: str
    slack: SlackSettings | None
    monday: MondaySettings | None
    smtp: SmtpSettings | None
    missing: dict[Channel, str]  # an unconfigured channel -> the first variable it lacks
    escalation_email: str | None
    breakers: BreakerSettings
    sink_timeout_seconds: float
    max_retries: int
    retry_interval_seconds: float
    backoff_base_seconds: float
    backoff_max_seconds: float
    lease_seconds: float
    cleanup_days: int
    scheduler_enabled: bool

    @classmethod
    def from_env(cls, env: Environment) -> NotifierSettings:
        server = ServerSettings.from_env(env, port_variable="NOTIFIER_PORT", default_port=50052)
        missing: dict[Channel, str] = {}

        def channel(name: Channel, variables: dict[str, str | None]) -> dict[str, str] | None:
            absent = [variable for variable, value in variables.items() if value is None]
            if absent:
                missing[name] = absent[0]
                if len(absent) < len(variables):
                    log.warning("%s channel off: %s not set", name, ", ".join(absent))
                return None
            return variables  # type: ignore[return-value]

        slack = channel(
            Channel.SLACK,
            {"SLACK_WEBHOOK_URL": env.parsed("SLACK_WEBHOOK_URL", None, parse_http_url, "an http(s) URL")},
        )
        monday = channel(
            Channel.MONDAY,
            {
                "MONDAY_API_URL": env.parsed("MONDAY_API_URL", None, parse_http_url, "an http(s) URL"),
                "MONDAY_API_KEY": env.optional("MONDAY_API_KEY"),
                "MONDAY_BOARD_ID": env.optional("MONDAY_BOARD_ID"),
            },
        )
        smtp = channel(
            Channel.EMAIL,
            {
                "SMTP_HOST": env.optional("SMTP_HOST"),
                "SMTP_FROM": env.parsed("SMTP_FROM", None, _address, "an email address"),
            },
        )
        smtp_port = env.port("SMTP_PORT", 587)
        smtp_security = env.choice("SMTP_SECURITY", "starttls", ("starttls", "ssl", "none"))
        sink_timeout = env.number("SINK_TIMEOUT_SECONDS", 10.0, minimum=0.1, maximum=120)
        # A lease covers one attempt: the sink call, plus the database work around it.
        lease = env.number("DLQ_LEASE_SECONDS", 120.0, minimum=2 * sink_timeout)
        return cls(
            server=server,
            database_url=env.parsed(
                "NOTIFIER_DATABASE_URL",
                normalise_url(f"sqlite:///{server.var_dir}/notifier.db"),
                normalise_url,
                "a postgresql:// or sqlite:/// URL",
            ),
            auto_migrate=env.flag("AUTO_MIGRATE", True),
            redis_url=env.parsed("REDIS_URL", None, parse_redis_url, "a redis:// URL"),
            redis_key_prefix=env.parsed(
                "REDIS_KEY_PREFIX", "novahouse", parse_key_prefix, "letters, digits, '-', '_' or ':'"
            ),
            slack=SlackSettings(slack["SLACK_WEBHOOK_URL"]) if slack else None,
            monday=MondaySettings(
                monday["MONDAY_API_URL"], monday["MONDAY_API_KEY"], monday["MONDAY_BOARD_ID"]
            )
            if monday
            else None,
            smtp=SmtpSettings(
                host=smtp["SMTP_HOST"],
                port=smtp_port,
                sender=smtp["SMTP_FROM"],
                security=smtp_security,
                user=env.optional("SMTP_USER"),
                password=env.optional("SMTP_PASSWORD"),
                ca_file=env.parsed("SMTP_CA_FILE", None, _readable_file, "a readable PEM file"),
            )
            if smtp
            else None,
            missing=missing,
            escalation_email=env.parsed("ESCALATION_EMAIL", None, _address, "an email address"),
            breakers=BreakerSettings.from_env(env),
            sink_timeout_seconds=sink_timeout,
            max_retries=env.integer("DLQ_MAX_RETRIES", 5, minimum=1, maximum=100),
            retry_interval_seconds=env.number("DLQ_RETRY_MINUTES", 5.0, minimum=0.001) * 60,
            backoff_base_seconds=env.number("DLQ_BACKOFF_SECONDS", 30.0, minimum=0.001),
            backoff_max_seconds=env.number("DLQ_BACKOFF_MAX_SECONDS", 3600.0, minimum=0.001),
            lease_seconds=lease,
            cleanup_days=env.integer("DLQ_CLEANUP_DAYS", 30, minimum=0),
            scheduler_enabled=env.flag("SCHEDULER_ENABLED", True),
        )


def _readable_file(raw: str) -> str:
    if not os.access(raw, os.R_OK) or not os.path.isfile(raw):
        raise ValueError(raw)
    return raw
