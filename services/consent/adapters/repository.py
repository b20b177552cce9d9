"""SQL repositories and the unit of work of the consent service.

The statements of the hot path (find, lock, save, append) are built once with bind parameters: building
and cache-keying a statement per call was measurable CPU per unsubscribe under load (bench/RESULTS.md).
On PostgreSQL a change takes as few round trips as the chain allows (issue 19): a new subject is created
and locked by one INSERT … RETURNING; saving the subject and locking the chain's head is one statement,
appending the entry and moving the head another (data-modifying CTEs), so a change is BEGIN, lock,
save + lock head, append + move head, COMMIT.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, delete, false, func, literal, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite

from services.consent.adapters import rows
from services.consent.adapters.tables import (
    audit_head,
    audit_log,
    pending_grants,
    subjects,
    suppressions,
)
from services.consent.application.ports import AuditQuery
from services.consent.domain.chain import (
    GENESIS_HASH,
    ChainedEntry,
    ChainHead,
)
from services.consent.domain.model import AuditEntry, PendingGrant, Subject
from services.runtime.clock import utcnow as utc_now
from services.runtime.db import affected_rows
from services.runtime.unit_of_work import ConnectionUnitOfWork, insert_ignoring_conflict

_FIND = select(subjects).where(subjects.c.email == bindparam("email"))
_LOCK = _FIND.with_for_update()
_LOCK_BY_PSEUDONYM = select(subjects).where(subjects.c.pseudonym == bindparam("pseudonym")).with_for_update()
_SAVE = (
    update(subjects)
    .where(subjects.c.email == bindparam("subject_email"))
    .values(
        marketing_consent=bindparam("marketing_consent"),
        rodo_consent=bindparam("rodo_consent"),
        unsubscribed=bindparam("unsubscribed"),
        last_action=bindparam("last_action"),
        last_action_at=bindparam("last_action_at"),
        marketing_at=bindparam("marketing_at"),
        rodo_at=bindparam("rodo_at"),
        confirmation_sent_at=bindparam("confirmation_sent_at"),
        updated_at=bindparam("updated_at"),
    )
)
_APPEND = audit_log.insert()
_HEAD_ID = 1
_LOCK_HEAD = select(audit_head).where(audit_head.c.id == _HEAD_ID).with_for_update()
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == _HEAD_ID)
    .values(
        last_entry_id=bindparam("last_entry_id"),
        head_hash=bindparam("head_hash"),
        updated_at=bindparam("updated_at"),
    )
)
# Saving the subject in the statement that locks the head (PostgreSQL): the subject is locked already,
# so the locking order (subject, then head) is the same as with two statements.
# The head's id is a named parameter given with each call: an anonymous one inside a CTE was not
# carried into SQLAlchemy's cached compilation ("a value is required for bind parameter").
_SAVE_LOCKING_HEAD = (
    select(audit_head.c.last_entry_id, audit_head.c.head_hash)
    .where(audit_head.c.id == bindparam("head_id"))
    .with_for_update(of=audit_head)
    .add_cte(_SAVE.cte("saved"))
)
# Parameter names match no column of either table: SQLAlchemy would add such a key to the SET of the
# head's UPDATE (an entry's "id" would become the head's).
_APPEND_MOVING_HEAD = (
    audit_log.insert()
    .values({c.name: bindparam(f"entry_{c.name}") for c in audit_log.c})
    .add_cte(
        update(audit_head)
        .where(audit_head.c.id == bindparam("head_id"))
        .values(
            last_entry_id=bindparam("head_last_entry_id"),
            head_hash=bindparam("head_hash"),
            updated_at=bindparam("head_updated_at"),
        )
        .cte("moved")
    )
)
_NEW_SUBJECT_COLUMNS = (
    "email",
    "pseudonym",
    "marketing_consent",
    "rodo_consent",
    "unsubscribed",
    "created_at",
    "updated_at",
)
# No arbiter named: the pseudonym is unique too, and a racing insert of the same email would otherwise
# fail on its index instead of doing nothing. A row inserted is locked by this transaction until it ends.
_CREATE = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(subjects)
    .values({name: bindparam(name) for name in _NEW_SUBJECT_COLUMNS})
    .on_conflict_do_nothing()
    .returning(*subjects.c)
    for dialect in (postgresql, sqlite)
}
_IS_SUPPRESSED = select(suppressions.c.pseudonym).where(suppressions.c.pseudonym == bindparam("pseudonym"))
# CheckConsentBatch in one round trip: the subjects' consents (kind 0) and the suppressed pseudonyms
# (kind 1), both by their unique index.
_CONSENTS_OF = union_all(
    select(
        literal(0).label("kind"),
        subjects.c.email.label("key"),
        subjects.c.marketing_consent,
        subjects.c.rodo_consent,
    ).where(subjects.c.email.in_(bindparam("emails", expanding=True))),
    select(literal(1), suppressions.c.pseudonym, false(), false()).where(
        suppressions.c.pseudonym.in_(bindparam("pseudonyms", expanding=True))
    ),
)


class SqlSubjectRepository:
    def __init__(self, session: Connection) -> None:
        self._session = session

    def get(self, email: str) -> Subject | None:
        row = self._session.execute(_FIND, {"email": email}).one_or_none()
        return rows.subject(row) if row else None

    def lock(self, email: str, pseudonym: str, now: dt.datetime) -> Subject:
        row = self._session.execute(_LOCK, {"email": email}).one_or_none()
        if row is None:
            new = {
                "email": email,
                "pseudonym": pseudonym,
                "marketing_consent": False,
                "rodo_consent": False,
                "unsubscribed": False,
                "created_at": now,
                "updated_at": now,
            }
            dialect = self._session.dialect.name
            row = self._session.execute(_CREATE[dialect], new).one_or_none()
            if row is None:  # a concurrent request created it first: wait for its lock
                row = self._session.execute(_LOCK, {"email": email}).one()
        return rows.subject(row)

    def delete(self, email: str) -> bool:
        return affected_rows(self._session, delete(subjects).where(subjects.c.email == email)) == 1

    def suppress(self, pseudonym: str, now: dt.datetime) -> None:
        insert_ignoring_conflict(
            self._session, suppressions, {"pseudonym": pseudonym, "created_at": now}, "pseudonym"
        )

    def is_suppressed(self, pseudonym: str) -> bool:
        return self._session.execute(_IS_SUPPRESSED, {"pseudonym": pseudonym}).first() is not None

    def consents_of(
        self, emails: Sequence[str], pseudonyms: Sequence[str]
    ) -> tuple[dict[str, tuple[bool, bool]], set[str]]:
        consents: dict[str, tuple[bool, bool]] = {}
        suppressed: set[str] = set()
        rows = self._session.execute(_CONSENTS_OF, {"emails": list(emails), "pseudonyms": list(pseudonyms)})
        for kind, key, marketing, processing in rows:
            if kind == 0:
                consents[key] = (marketing, processing)
            else:
                suppressed.add(key)
        return consents, suppressed

    def lock_by_pseudonym(self, pseudonym: str) -> Subject | None:
        row = self._session.execute(_LOCK_BY_PSEUDONYM, {"pseudonym": pseudonym}).one_or_none()
        return rows.subject(row) if row else None

    def save(self, subject: Subject, now: dt.datetime) -> None:
        self._session.execute(_SAVE, rows.saved(subject, now))


class SqlAuditLog:
    def __init__(self, session: Connection) -> None:
        self._session = session

    def append(self, pseudonym: str, entry: AuditEntry) -> None:
        """Appends the entry at the end of the chain. The head row is locked first (SELECT … FOR UPDATE
        on PostgreSQL; SQLite transactions hold the database's write lock from BEGIN IMMEDIATE), so
        concurrent writers take their turns and every entry links to the one committed before it."""
        values = rows.chained(pseudonym, entry, self._lock_head())
        self._session.execute(_APPEND, values)
        self._session.execute(_MOVE_HEAD, rows.moved(values, entry))

    def save_and_append(self, subject: Subject, now: dt.datetime, pseudonym: str, entry: AuditEntry) -> None:
        """What SqlSubjectRepository.save and append do, in two statements instead of four."""
        locking = {**rows.saved(subject, now), "head_id": _HEAD_ID}
        row = self._session.execute(_SAVE_LOCKING_HEAD, locking).one_or_none()
        head = ChainHead(row.last_entry_id, row.head_hash) if row is not None else self._lock_head()
        values = rows.chained(pseudonym, entry, head)
        appending = {f"entry_{k}": v for k, v in values.items()}
        moving = {
            "head_id": _HEAD_ID,
            "head_last_entry_id": values["id"],
            "head_hash": values["entry_hash"],
            "head_updated_at": entry.occurred_at,
        }
        self._session.execute(_APPEND_MOVING_HEAD, {**appending, **moving})

    def _lock_head(self) -> ChainHead:
        row = self._session.execute(_LOCK_HEAD).one_or_none()
        if row is None:
            # Only on a database whose head row is gone (the migration creates it): start from the last
            # stored entry with the genesis hash, so verification reports the break instead of writes
            # failing on a duplicate id.
            last = self._session.execute(select(func.max(audit_log.c.id))).scalar() or 0
            insert_ignoring_conflict(
                self._session,
                audit_head,
                {"id": _HEAD_ID, "last_entry_id": last, "head_hash": GENESIS_HASH, "updated_at": utc_now()},
                "id",
            )
            row = self._session.execute(_LOCK_HEAD).one()
        return ChainHead(row.last_entry_id, row.head_hash)

    def head(self) -> ChainHead | None:
        row = self._session.execute(select(audit_head).where(audit_head.c.id == _HEAD_ID)).one_or_none()
        return ChainHead(row.last_entry_id, row.head_hash) if row else None

    def count_for(self, pseudonym: str) -> int:
        counted = select(func.count()).where(audit_log.c.subject_pseudonym == pseudonym)
        return self._session.execute(counted).scalar_one()

    def chain_batch(self, after_id: int, limit: int) -> list[ChainedEntry]:
        found = self._session.execute(
            select(audit_log).where(audit_log.c.id > after_id).order_by(audit_log.c.id).limit(limit)
        )
        return [ChainedEntry(**row._mapping) for row in found]

    def has_idempotency_key(self, key: str) -> bool:
        found = select(audit_log.c.id).where(audit_log.c.idempotency_key == key)
        return self._session.execute(found).first() is not None

    def query(self, query: AuditQuery) -> list[AuditEntry]:
        joined = audit_log.outerjoin(subjects, subjects.c.pseudonym == audit_log.c.subject_pseudonym)
        statement = select(audit_log, subjects.c.email).select_from(joined)
        if query.pseudonym is not None:
            statement = statement.where(audit_log.c.subject_pseudonym == query.pseudonym)
        if query.action is not None:
            statement = statement.where(audit_log.c.action == query.action.value)
        if query.since is not None:
            statement = statement.where(audit_log.c.occurred_at >= query.since)
        if query.until is not None:
            statement = statement.where(audit_log.c.occurred_at < query.until)
        if query.before_id is not None:
            statement = statement.where(audit_log.c.id < query.before_id)
        statement = statement.order_by(audit_log.c.id.desc()).limit(query.limit)
        return [rows.audit_entry(row) for row in self._session.execute(statement)]


class SqlPendingGrants:
    def __init__(self, session: Connection) -> None:
        self._session = session

    def add(self, grant: PendingGrant) -> None:
        insert_ignoring_conflict(
            self._session,
            pending_grants,
            {
                "reference": grant.reference,
                "subject_pseudonym": grant.pseudonym,
                "given_at": grant.given_at,
                "expires_at": grant.expires_at,
                "consent_text_version": grant.consent_text_version,
                "language": grant.language,
                "source": grant.source,
            },
        )

    def get(self, reference: str) -> PendingGrant | None:
        found = select(pending_grants).where(pending_grants.c.reference == reference)
        row = self._session.execute(found).one_or_none()
        if row is None:
            return None
        return PendingGrant(
            reference=row.reference,
            pseudonym=row.subject_pseudonym,
            given_at=row.given_at,
            expires_at=row.expires_at,
            consent_text_version=row.consent_text_version,
            language=row.language,
            source=row.source,
            confirmed_at=row.confirmed_at,
        )

    def confirm(self, reference: str, now: dt.datetime) -> None:
        self._session.execute(
            update(pending_grants).where(pending_grants.c.reference == reference).values(confirmed_at=now)
        )


class ConsentUnitOfWork(ConnectionUnitOfWork):
    subjects: SqlSubjectRepository
    audit_log: SqlAuditLog
    pending_grants: SqlPendingGrants

    def bind_repositories(self, session: Connection) -> None:
        self.subjects = SqlSubjectRepository(session)
        self.audit_log = SqlAuditLog(session)
        self.pending_grants = SqlPendingGrants(session)
        self._postgres = session.dialect.name == "postgresql"

    def save_and_audit(self, subject: Subject, now: dt.datetime, pseudonym: str, entry: AuditEntry) -> None:
        if self._postgres:
            self.audit_log.save_and_append(subject, now, pseudonym, entry)
        else:  # SQLite has no data-modifying CTEs (and no round trips)
            self.subjects.save(subject, now)
            self.audit_log.append(pseudonym, entry)
