"""The SQL adapters on SQLite and PostgreSQL: storage guarantees the use cases rely on."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DatabaseError

from services.consent.adapters.repository import ConsentUnitOfWork
from services.consent.adapters.tables import audit_log, subjects
from services.consent.application.ports import AuditQuery
from services.consent.domain.model import AuditEntry, ConsentAction
from services.runtime.db import create_db_engine, create_session_factory

NOW = dt.datetime(2026, 11, 22, 12, 30, tzinfo=dt.UTC)


@pytest.fixture
def engine(consent_database):
    engine = create_db_engine(consent_database)
    yield engine
    engine.dispose()


@pytest.fixture
def unit_of_work(engine):
    sessions = create_session_factory(engine)
    return lambda: ConsentUnitOfWork(sessions)


def add_entry(unit_of_work, pseudonym, action=ConsentAction.UNSUBSCRIBE, at=NOW):
    with unit_of_work() as uow:
        uow.audit_log.append(
            pseudonym, AuditEntry(action=action, occurred_at=at, marketing_consent=False, rodo_consent=False)
        )
        uow.commit()


def test_lock_creates_a_subject_once_and_save_round_trips(unit_of_work):
    with unit_of_work() as uow:
        subject = uow.subjects.lock("a@example.com", "p" * 64, NOW)
        assert (subject.marketing_consent, subject.rodo_consent, subject.last_action) == (False, False, None)
        subject.record(marketing=True, rodo=True, given_at=NOW, at=NOW)
        uow.subjects.save(subject, NOW)
        uow.commit()
    with unit_of_work() as uow:
        again = uow.subjects.lock("a@example.com", "p" * 64, NOW)
    assert (again.marketing_consent, again.rodo_consent, again.last_action, again.last_action_at) == (
        True,
        True,
        ConsentAction.RECORD,
        NOW,
    )
    assert (again.marketing_at, again.rodo_at) == (NOW, NOW)  # event times, for supersession


def test_an_uncommitted_unit_of_work_leaves_nothing(unit_of_work, engine):
    with unit_of_work() as uow:
        uow.subjects.lock("gone@example.com", "g" * 64, NOW)
        uow.audit_log.append("g" * 64, AuditEntry(ConsentAction.RECORD, NOW, True, True))
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(subjects)).scalar() == 0
        assert connection.execute(select(func.count()).select_from(audit_log)).scalar() == 0


def test_the_audit_log_refuses_update_and_delete(engine, unit_of_work):
    add_entry(unit_of_work, "a" * 64)
    for statement in (update(audit_log).values(reason="rewritten"), delete(audit_log)):
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
            connection.execute(statement)
    with engine.connect() as connection:
        assert connection.execute(select(audit_log.c.reason)).scalars().all() == [""]


def test_erasing_a_subject_leaves_its_audit_trail_whole(engine, unit_of_work):
    with unit_of_work() as uow:
        uow.subjects.lock("erase@example.com", "e" * 64, NOW)
        uow.commit()
    add_entry(unit_of_work, "e" * 64)
    add_entry(unit_of_work, "e" * 64, ConsentAction.REVOKE)
    with engine.begin() as connection:
        connection.execute(delete(subjects).where(subjects.c.email == "erase@example.com"))
    with unit_of_work() as uow:
        entries = uow.audit_log.query(AuditQuery(limit=10, pseudonym="e" * 64))
    assert [(e.action, e.email) for e in entries] == [
        (ConsentAction.REVOKE, ""),
        (ConsentAction.UNSUBSCRIBE, ""),
    ]


def test_audit_time_filters_use_utc(unit_of_work):
    add_entry(unit_of_work, "t" * 64, at=NOW)
    warsaw = dt.timezone(dt.timedelta(hours=1))
    with unit_of_work() as uow:
        at_same_instant = uow.audit_log.query(AuditQuery(limit=5, since=NOW.astimezone(warsaw)))
        just_after = uow.audit_log.query(AuditQuery(limit=5, since=NOW + dt.timedelta(seconds=1)))
    assert [e.occurred_at for e in at_same_instant] == [NOW]
    assert just_after == []


def test_check_is_a_single_indexed_lookup(engine):
    """CheckConsent reads by email; the unique constraint gives that lookup its index."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            indexed = connection.execute(
                text("SELECT indexdef FROM pg_indexes WHERE tablename = 'consent_subjects'")
            ).scalars()
        else:
            indexed = connection.execute(
                text("SELECT sql FROM sqlite_master WHERE tbl_name = 'consent_subjects'")
            ).scalars()
        assert any("email" in (definition or "") for definition in indexed)
