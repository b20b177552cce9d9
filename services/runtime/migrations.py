"""Alembic migrations, one history per service, applied at start or by `make migrate`.

Each service keeps its history under `services/<name>/adapters/migrations/` with an env.py that only
calls `run_alembic_env(metadata)`. Each history has its own version table (`alembic_version_<name>`), so
services can even share one database without their histories colliding.

On PostgreSQL the upgrade runs in one transaction holding an advisory lock keyed by the service, so
replicas starting together wait for each other instead of racing to create the same tables.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, text
from sqlalchemy.engine import URL

from services.runtime.db import create_db_engine, is_postgres

log = logging.getLogger(__name__)


def _config(script_location: Path, version_table: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["version_table"] = version_table
    return config


def _advisory_key(version_table: str) -> int:
    # pg_advisory_xact_lock takes a signed 64-bit key; crc32 is stable across processes and releases.
    return zlib.crc32(f"novahouse-migrations:{version_table}".encode())


def upgrade_to_head(engine: Engine, script_location: Path, version_table: str) -> None:
    """Applies every pending migration of one service's history."""
    config = _config(script_location, version_table)
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.begin() as connection:
        if is_postgres(engine):
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _advisory_key(version_table)}
            )
        before = MigrationContext.configure(
            connection, opts={"version_table": version_table}
        ).get_current_revision()
        if before == head:
            log.info("database schema is up to date at %s (%s)", head, version_table)
            return
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    log.info("database schema migrated from %s to %s (%s)", before or "empty", head, version_table)


def current_revision(engine: Engine, version_table: str) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(
            connection, opts={"version_table": version_table}
        ).get_current_revision()


def head_revision(script_location: Path, version_table: str) -> str | None:
    return ScriptDirectory.from_config(_config(script_location, version_table)).get_current_head()


@dataclass(frozen=True)
class MigrationHistory:
    """One service's Alembic history and the version table it records its revision in."""

    script_location: Path
    version_table: str

    def upgrade(self, database_url: URL) -> None:
        engine = create_db_engine(database_url, pool_size=1)
        try:
            upgrade_to_head(engine, self.script_location, self.version_table)
        finally:
            engine.dispose()

    def pending(self, database_url: URL) -> tuple[str | None, str | None]:
        """(current, head) when the database is behind its history, else (head, head)."""
        engine = create_db_engine(database_url, pool_size=1)
        try:
            current = current_revision(engine, self.version_table)
        finally:
            engine.dispose()
        return current, head_revision(self.script_location, self.version_table)


def run_alembic_env(target_metadata: MetaData) -> None:
    """The body of every service's migrations/env.py: runs on the connection `upgrade_to_head` passed."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through services.runtime.migrations.upgrade_to_head")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=context.config.attributes["version_table"],
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
