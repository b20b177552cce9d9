"""The consent service's settings (docs/configuration.md), validated at start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from services.consent.domain.pseudonym import MIN_KEY_BYTES
from services.runtime.config import ConfigError, Environment, ServerSettings, parse_host_port
from services.runtime.db import is_postgres, normalise_url
from services.runtime.signed_links import default_base_url, parse_base_url, secrets_from_env

CONSENT_WORKERS = 4


@dataclass(frozen=True)
class ConsentSettings:
    server: ServerSettings
    database_url: URL
    auto_migrate: bool
    # None on SQLite without CONSENT_PSEUDONYM_KEY: a key is generated and kept under VAR_DIR.
    pseudonym_key: bytes | None
    # UNSUBSCRIBE_SECRET (first signs, all verify); None: a key generated under VAR_DIR.
    link_secrets: tuple[bytes, ...] | None
    public_base_url: str
    notifier_address: str
    upstream_timeout_seconds: float
    confirm_days: int
    confirm_resend_hours: float

    @classmethod
    def from_env(cls, env: Environment) -> ConsentSettings:
        # Every change waits for the audit chain's head row in turn (and the same person's changes for
        # their subject row): more calls in flight than this only queue in PostgreSQL and contend for
        # the GIL, which lengthened the tail (bench/RESULTS.md, issue 19). Calls beyond it wait in
        # the server's queue, first come first served.
        server = ServerSettings.from_env(
            env, port_variable="CONSENT_PORT", default_port=50051, default_workers=CONSENT_WORKERS
        )
        database_url = env.parsed(
            "CONSENT_DATABASE_URL",
            normalise_url(f"sqlite:///{server.var_dir}/consent.db"),
            normalise_url,
            "a postgresql:// or sqlite:/// URL",
        )
        key_text = env.optional("CONSENT_PSEUDONYM_KEY")
        key_expected = f"a secret of at least {MIN_KEY_BYTES} bytes"
        if key_text is not None and len(key_text.encode()) < MIN_KEY_BYTES:
            raise ConfigError("CONSENT_PSEUDONYM_KEY", key_expected, "<hidden>")
        if key_text is None and is_postgres(database_url):
            raise ConfigError("CONSENT_PSEUDONYM_KEY", key_expected + " (required with PostgreSQL)", "")
        return cls(
            server=server,
            database_url=database_url,
            auto_migrate=env.flag("AUTO_MIGRATE", True),
            pseudonym_key=key_text.encode() if key_text is not None else None,
            link_secrets=secrets_from_env(env),
            public_base_url=env.parsed(
                "PUBLIC_BASE_URL",
                default_base_url(env.optional("GATEWAY_HOST"), env.optional("GATEWAY_PORT")),
                parse_base_url,
                "an http(s) URL such as https://novahouse.pl",
            ),
            notifier_address=env.parsed("NOTIFIER_ADDR", "localhost:50052", parse_host_port, "host:port"),
            upstream_timeout_seconds=env.number("UPSTREAM_TIMEOUT_SECONDS", 5.0, minimum=0.1, maximum=120),
            confirm_days=env.integer("CONSENT_CONFIRM_DAYS", 7, minimum=1, maximum=365),
            confirm_resend_hours=env.number("CONSENT_CONFIRM_RESEND_HOURS", 24.0, minimum=0, maximum=8760),
        )

    @property
    def generated_key_path(self) -> Path:
        return Path(self.server.var_dir) / "consent-pseudonym.key"

    @property
    def generated_link_key_path(self) -> Path:
        return Path(self.server.var_dir) / "consent-link.key"
