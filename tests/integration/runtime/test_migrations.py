"""Each service's Alembic history upgrades an empty database, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from services.runtime.db import create_db_engine, normalise_url
from services.runtime.migrations import current_revision, head_revision, upgrade_to_head
from tests.support.databases import fresh_postgres_database, service_schemas

HISTORIES = [(history, set(metadata.tables)) for history, metadata in service_schemas().values()]


@pytest.mark.parametrize("service", list(service_schemas()))
def test_the_migrated_schema_matches_the_tables_the_code_declares(empty_database, service):
    history, metadata = service_schemas()[service]
    history.upgrade(empty_database)
    engine = create_db_engine(empty_database)
    try:
        with engine.connect() as connection:
            opts = {"compare_type": True, "version_table": history.version_table}
            context = MigrationContext.configure(connection, opts=opts)
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


@pytest.fixture
def empty_database(backend, tmp_path, request):
    if backend == "sqlite":
        yield normalise_url(f"sqlite:///{tmp_path}/empty.db")
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_admin"), "migrations") as url:
        yield url


@pytest.mark.parametrize(("history", "tables"), HISTORIES, ids=list(service_schemas()))
def test_upgrade_on_an_empty_database_reaches_head_and_is_idempotent(empty_database, history, tables):
    script_location, version_table = history.script_location, history.version_table
    engine = create_db_engine(empty_database)
    try:
        assert current_revision(engine, version_table) is None
        upgrade_to_head(engine, script_location, version_table)
        head = head_revision(script_location, version_table)
        assert head is not None
        assert current_revision(engine, version_table) == head
        assert tables <= set(inspect(engine).get_table_names())
        upgrade_to_head(engine, script_location, version_table)
        assert current_revision(engine, version_table) == head
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_replicas_migrating_at_once_wait_for_each_other(postgres_admin):
    """Without the advisory lock, racing replicas fail creating the same tables."""
    history, tables = HISTORIES[0]
    script_location, version_table = history.script_location, history.version_table
    with fresh_postgres_database(postgres_admin, "race") as url:
        engines = [create_db_engine(url) for _ in range(4)]
        try:
            with ThreadPoolExecutor(len(engines)) as pool:
                futures = [pool.submit(upgrade_to_head, e, script_location, version_table) for e in engines]
                for future in futures:
                    future.result()
            assert current_revision(engines[0], version_table) == head_revision(
                script_location, version_table
            )
            assert tables <= set(inspect(engines[0]).get_table_names())
        finally:
            for engine in engines:
                engine.dispose()
