"""The services in-process, on real gRPC servers bound to free ports, with test-friendly settings."""

from __future__ import annotations

from sqlalchemy.engine import URL

from services.runtime.config import Environment
from services.runtime.service_main import RunningService

PSEUDONYM_KEY = "integration-test-pseudonym-key-0123456789"


def _url(database_url: URL) -> str:
    return database_url.render_as_string(hide_password=False)


def consent_environ(database_url: URL, var_dir: str, **overrides: str) -> dict[str, str]:
    return {
        "CONSENT_PORT": "0",
        "CONSENT_DATABASE_URL": _url(database_url),
        "CONSENT_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "VAR_DIR": var_dir,
        "AUTO_MIGRATE": "false",
        **overrides,
    }


def notifier_environ(database_url: URL, var_dir: str, **overrides: str) -> dict[str, str]:
    return {
        "NOTIFIER_PORT": "0",
        "NOTIFIER_DATABASE_URL": _url(database_url),
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


def chat_environ(database_url: URL, var_dir: str, **overrides: str) -> dict[str, str]:
    return {
        "CHAT_PORT": "0",
        "CHAT_DATABASE_URL": _url(database_url),
        "VAR_DIR": var_dir,
        "AUTO_MIGRATE": "false",
        "SCHEDULER_ENABLED": "false",
        "UPSTREAM_TIMEOUT_SECONDS": "2",
        "OUTBOX_RELAY_SECONDS": "0.2",
        "OUTBOX_LEASE_SECONDS": "5",
        "OUTBOX_BACKOFF_SECONDS": "0.1",
        "OUTBOX_BACKOFF_MAX_SECONDS": "0.5",
        "FOLLOWUP_DELAYS": "1s,2s",
        **overrides,
    }


def start_consent(environ: dict[str, str]) -> RunningService:
    from services.consent.bootstrap import ENTRY_POINT
    from services.consent.settings import ConsentSettings

    return ENTRY_POINT.start(ConsentSettings.from_env(Environment(environ)))


def start_notifier(environ: dict[str, str]) -> RunningService:
    from services.notifier.bootstrap import ENTRY_POINT
    from services.notifier.settings import NotifierSettings

    return ENTRY_POINT.start(NotifierSettings.from_env(Environment(environ)))


def start_chat(environ: dict[str, str]) -> RunningService:
    from services.chat.bootstrap import ENTRY_POINT
    from services.chat.settings import ChatSettings

    return ENTRY_POINT.start(ChatSettings.from_env(Environment(environ)))


def start_sqlite_consent(var_dir: str) -> RunningService:
    """The consent service on a SQLite file in `var_dir`, migrated at start."""
    from services.runtime.db import normalise_url

    url = normalise_url(f"sqlite:///{var_dir}/consent.db")
    return start_consent(consent_environ(url, var_dir, AUTO_MIGRATE="true"))
