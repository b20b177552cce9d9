"""The audit log's hash chain on SQLite and PostgreSQL: a live log verifies; a row deleted behind the
service's back (triggers off, as a superuser can), a field modified, rows reordered, an entry inserted
or the tail cut off are found, by the RPC and by `python -m services.consent verify-audit`."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DatabaseError

from novahouse.consent.v1 import consent_pb2 as pb
from services.runtime.db import create_db_engine, normalise_url
from services.runtime.migrations import _config
from tests.support.databases import fresh_postgres_database, service_schemas
from tests.support.services import consent_environ


def _fill(consent, count: int = 6) -> None:
    for n in range(count):
        email = f"chain{n % 3}@example.com"
        if n % 2:
            consent.Unsubscribe(pb.UnsubscribeRequest(email=email, reason=f"reason {n}"))
        else:
            consent.RecordConsent(
                pb.RecordConsentRequest(
                    email=email, marketing_consent=True, rodo_consent=True, consent_text_version="2026-11"
                )
            )


def _tamper(url, backend: str, *statements: str) -> None:
    """Runs statements with the append-only triggers out of the way, as a superuser could."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            if backend == "postgresql":
                connection.execute(text("SET LOCAL session_replication_role = replica"))
            else:
                connection.execute(text("DROP TRIGGER consent_audit_log_no_update"))
                connection.execute(text("DROP TRIGGER consent_audit_log_no_delete"))
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def _verify(consent) -> pb.VerifyAuditLogResponse:
    return consent.VerifyAuditLog(pb.VerifyAuditLogRequest())


def test_a_live_log_verifies_and_its_head_is_the_last_entry(consent, consent_database):
    assert _verify(consent).ok  # an empty log too
    _fill(consent)
    result = _verify(consent)
    assert (result.ok, result.entries_checked, result.first_invalid_entry_id, result.problem) == (
        True,
        6,
        "",
        "",
    )
    engine = create_engine(consent_database)
    with engine.connect() as connection:
        last = connection.execute(
            text("SELECT id, entry_hash FROM consent_audit_log ORDER BY id DESC")
        ).first()
        head = connection.execute(text("SELECT last_entry_id, head_hash FROM consent_audit_head")).one()
    engine.dispose()
    assert tuple(head) == tuple(last)
    assert result.head_hash == last.entry_hash


def test_a_row_deleted_with_the_triggers_disabled_is_found(consent, consent_database, backend):
    _fill(consent)
    _tamper(consent_database, backend, "DELETE FROM consent_audit_log WHERE id = 3")
    result = _verify(consent)
    assert not result.ok
    assert result.first_invalid_entry_id == "4"
    assert "link" in result.problem


def test_a_modified_field_is_found(consent, consent_database, backend):
    _fill(consent)
    _tamper(
        consent_database, backend, "UPDATE consent_audit_log SET ip_address = '198.51.100.1' WHERE id = 2"
    )
    result = _verify(consent)
    assert (result.ok, result.first_invalid_entry_id, result.entries_checked) == (False, "2", 2)
    assert "modified" in result.problem


def test_reordered_rows_are_found(consent, consent_database, backend):
    _fill(consent)
    _tamper(
        consent_database,
        backend,
        "UPDATE consent_audit_log SET id = 1000 WHERE id = 2",
        "UPDATE consent_audit_log SET id = 2 WHERE id = 3",
        "UPDATE consent_audit_log SET id = 3 WHERE id = 1000",
    )
    result = _verify(consent)
    assert (result.ok, result.first_invalid_entry_id) == (False, "2")


def test_a_truncated_tail_is_found_against_the_head(consent, consent_database, backend):
    _fill(consent)
    _tamper(consent_database, backend, "DELETE FROM consent_audit_log WHERE id >= 5")
    result = _verify(consent)
    assert (result.ok, result.entries_checked, result.first_invalid_entry_id) == (False, 4, "5")


def test_an_inserted_copy_of_an_entry_is_found(consent, consent_database, backend):
    _fill(consent, 3)
    columns = (
        "subject_pseudonym, action, occurred_at, marketing_consent, rodo_consent, ip_address, user_agent,"
        " reason, source, consent_text_version, request_id, hash_version, prev_hash, entry_hash"
    )
    _tamper(
        consent_database,
        backend,
        "UPDATE consent_audit_log SET id = id + 10 WHERE id >= 2",
        f"INSERT INTO consent_audit_log (id, {columns})"
        f" SELECT 5, {columns} FROM consent_audit_log WHERE id = 1",
    )
    result = _verify(consent)
    assert (result.ok, result.first_invalid_entry_id) == (False, "5")


@pytest.mark.postgres
def test_truncate_is_refused_on_postgresql(postgres_admin):
    with fresh_postgres_database(postgres_admin, "truncate") as url:
        service_schemas()["consent"][0].upgrade(url)
        engine = create_engine(url)
        try:
            with pytest.raises(DatabaseError, match="append-only: TRUNCATE"), engine.begin() as connection:
                connection.execute(text("TRUNCATE consent_audit_log"))
        finally:
            engine.dispose()


def test_the_command_line_exits_1_when_the_chain_is_broken(consent, consent_database, backend, tmp_path):
    _fill(consent, 4)
    environ = {**os.environ, **consent_environ(consent_database, str(tmp_path))}

    def run() -> tuple[int, dict]:
        done = subprocess.run(
            [sys.executable, "-m", "services.consent", "verify-audit"],
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.returncode, json.loads(done.stdout)

    status, answer = run()
    assert (status, answer["ok"], answer["entries_checked"]) == (0, True, 4)
    _tamper(consent_database, backend, "UPDATE consent_audit_log SET reason = 'changed' WHERE id = 4")
    status, answer = run()
    assert (status, answer["ok"], answer["first_invalid_entry_id"]) == (1, False, "4")


def test_appends_after_a_broken_link_still_go_through(consent, consent_database, backend):
    """A broken chain is reported, never a reason to refuse consent requests."""
    _fill(consent, 3)
    _tamper(consent_database, backend, "DELETE FROM consent_audit_log WHERE id = 3")
    consent.Unsubscribe(pb.UnsubscribeRequest(email="after@example.com"))
    assert _verify(consent).first_invalid_entry_id == "4"


@pytest.fixture
def old_database(backend, tmp_path, request):
    if backend == "sqlite":
        yield normalise_url(f"sqlite:///{tmp_path}/old.db")
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_admin"), "chainmig") as url:
        yield url


def test_the_migration_hashes_the_entries_written_before_it(old_database):
    history = service_schemas()["consent"][0]
    engine = create_db_engine(old_database)
    config = _config(history.script_location, history.version_table)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        for n in range(3):
            connection.execute(
                text(
                    "INSERT INTO consent_audit_log (subject_pseudonym, action, occurred_at,"
                    " marketing_consent, rodo_consent, ip_address, user_agent, reason, source,"
                    " consent_text_version, request_id) VALUES (:p, 'unsubscribe', :at, false, false,"
                    " '203.0.113.7', 'curl/8', '', 'api', '', 'r')"
                ),
                {"p": f"{n}" * 64, "at": dt.datetime(2026, 11, 1, 12, n, 0, 123456)},
            )
    engine.dispose()
    history.upgrade(old_database)

    from services.consent.adapters.repository import ConsentUnitOfWork
    from services.consent.application.privacy import ConsentPrivacy
    from services.consent.domain.pseudonym import Pseudonymizer
    from services.runtime.db import create_session_factory

    engine = create_db_engine(old_database)
    sessions = create_session_factory(engine)
    privacy = ConsentPrivacy(lambda: ConsentUnitOfWork(sessions), Pseudonymizer(b"k" * 32), verify_batch=2)
    try:
        result = privacy.verify()
        assert (result.ok, result.entries_checked, result.problem) == (True, 3, "")
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_service_role_gets_no_update_delete_or_truncate_on_the_log(postgres_admin, monkeypatch):
    role = f"nh_consent_app_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
    try:
        with fresh_postgres_database(postgres_admin, "roles") as url:
            monkeypatch.setenv("CONSENT_DB_SERVICE_ROLE", role)
            service_schemas()["consent"][0].upgrade(url)
            engine = create_engine(url)
            with engine.connect() as connection:

                def allowed(table: str, privilege: str) -> bool:
                    return connection.execute(
                        text("SELECT has_table_privilege(:role, :table, :privilege)"),
                        {"role": role, "table": table, "privilege": privilege},
                    ).scalar_one()

                assert allowed("consent_audit_log", "INSERT")
                assert allowed("consent_audit_log", "SELECT")
                for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
                    assert not allowed("consent_audit_log", privilege), privilege
                assert allowed("consent_audit_head", "UPDATE")
            engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
