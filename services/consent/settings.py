"""The consent service's settings (docs/configuration.md), validated at start."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from services.consent.domain.pseudonym import MIN_KEY_BYTES
from services.runtime.config import ConfigError, Environment, ServerSettings
from services.runtime.db import is_postgres, normalise_url


@dataclass(frozen=True)
class ConsentSettings:
    server: ServerSettings
    database_url: URL
    auto_migrate: bool
    # None on SQLite without CONSENT_PSEUDONYM_KEY: a key is generated and kept under VAR_DIR.
    pseudonym_key: bytes | None

    @classmethod
    def from_env(cls, env: Environment) -> ConsentSettings:
        server = ServerSettings.from_env(env, port_variable="CONSENT_PORT", default_port=50051)
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
        )

    @property
    def generated_key_path(self) -> Path:
        return Path(self.server.var_dir) / "consent-pseudonym.key"
