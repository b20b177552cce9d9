"""Databases for tests: a fresh SQLite file per test, or a fresh PostgreSQL database per test session
on the server named by TEST_DATABASE_URL (created here, dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import MetaData, create_engine, text
from sqlalchemy.engine import URL, Row
from sqlalchemy.sql import Executable

from services.runtime.db import normalise_url


def postgres_admin_url() -> URL | None:
    raw = os.environ.get("TEST_DATABASE_URL", "").strip()
    return normalise_url(raw) if raw else None


def postgres_reachable(url: URL) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@contextmanager
def fresh_postgres_database(admin_url: URL, label: str) -> Iterator[URL]:
    """Creates an empty database on the test server and drops it (even if still in use) afterwards."""
    name = f"nh_test_{label}_{uuid.uuid4().hex[:10]}"
    # Pre-ping: a test may have restarted its private server meanwhile, leaving dead pooled connections.
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin_url.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def truncate_all(url: URL, metadata: MetaData) -> None:
    """Empties every table of a migrated PostgreSQL test database. TRUNCATE skips row triggers; the
    statement trigger refusing it on the consent audit log is off for this transaction (as superuser)."""
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


def query(url: str | URL, statement: Executable) -> list[Row]:
    """The rows of one statement against a database, on a connection of its own."""
    engine = create_engine(normalise_url(url) if isinstance(url, str) else url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(statement).all())
    finally:
        engine.dispose()


def service_schemas() -> dict:
    """Each service's migration history and table metadata, by service name."""
    from services.chat.adapters.tables import metadata as chat_metadata
    from services.chat.bootstrap import MIGRATIONS as CHAT
    from services.consent.adapters.tables import metadata as consent_metadata
    from services.consent.bootstrap import MIGRATIONS as CONSENT
    from services.notifier.adapters.tables import metadata as notifier_metadata
    from services.notifier.bootstrap import MIGRATIONS as NOTIFIER

    return {
        "consent": (CONSENT, consent_metadata),
        "notifier": (NOTIFIER, notifier_metadata),
        "chat": (CHAT, chat_metadata),
    }


def dump_text(url: str | URL) -> str:
    """Everything a database holds, as text: `pg_dump` for PostgreSQL, the SQL dump for SQLite."""
    import sqlite3
    import subprocess

    parsed = normalise_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        with sqlite3.connect(str(parsed.database)) as connection:
            return "\n".join(connection.iterdump())
    plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.run(["pg_dump", plain], capture_output=True, text=True, check=True, timeout=60).stdout
