"""Consent's storage port in memory: subjects and the audit log behind a unit of work whose commits
copy the working state over the stored one, so an uncommitted change is lost."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

from services.consent.application.ports import AuditQuery
from services.consent.domain.model import AuditEntry, PendingGrant, Subject
from services.consent.domain.pseudonym import Pseudonymizer
from services.runtime.identity import CallerIdentity


class FakeUnitOfWork:
    """Commits copy the working state over the stored one, so an uncommitted change is lost."""

    def __init__(self) -> None:
        self.stored_subjects: dict[str, Subject] = {}
        self.stored_audit: list[tuple[str, AuditEntry]] = []
        self.stored_pending: dict[str, PendingGrant] = {}
        self.commits = 0
        self.suppressed: set[str] = set()  # erased people's pseudonyms
        self.batch_lookups: list[list[str]] = []  # the emails of each consents_of call
        self._ids = itertools.count(1)
        self.subjects = self
        self.audit_log = self
        self.pending_grants = FakePendingGrants(self)

    def __enter__(self):
        self._subjects = {k: dataclasses.replace(v) for k, v in self.stored_subjects.items()}
        self._audit = list(self.stored_audit)
        self.pending = dict(self.stored_pending)
        return self

    def __exit__(self, *exc_info):
        return None

    def commit(self):
        self.stored_subjects, self.stored_audit = self._subjects, self._audit
        self.stored_pending = self.pending
        self.commits += 1

    def lock_by_pseudonym(self, pseudonym):
        return next((s for e, s in self._subjects.items() if PSEUDONYMIZE(e) == pseudonym), None)

    def get(self, email):
        return self._subjects.get(email)

    def lock(self, email, pseudonym, now):
        return self._subjects.setdefault(email, Subject(email))

    def save(self, subject, now):
        self._subjects[subject.email] = subject

    def is_suppressed(self, pseudonym):
        return pseudonym in self.suppressed

    def consents_of(self, emails, pseudonyms):
        self.batch_lookups.append(list(emails))
        consents = {
            e: (s.marketing_consent, s.rodo_consent) for e, s in self._subjects.items() if e in emails
        }
        return consents, {p for p in pseudonyms if p in self.suppressed}

    def append(self, pseudonym, entry):
        self._audit.append((pseudonym, dataclasses.replace(entry, id=next(self._ids))))

    def save_and_audit(self, subject, now, pseudonym, entry):
        self.save(subject, now)
        self.append(pseudonym, entry)

    def has_idempotency_key(self, key):
        return any(entry.idempotency_key == key for _, entry in self._audit)

    def query(self, query: AuditQuery):
        found = [
            dataclasses.replace(entry, email=self._email_of(pseudonym))
            for pseudonym, entry in reversed(self._audit)
            if (query.pseudonym is None or pseudonym == query.pseudonym)
            and (query.action is None or entry.action == query.action)
            and (query.before_id is None or entry.id < query.before_id)
        ]
        return found[: query.limit]

    def _email_of(self, pseudonym):
        return next((e for e in self._subjects if PSEUDONYMIZE(e) == pseudonym), "")


class FakePendingGrants:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    def add(self, grant):
        self._uow.pending.setdefault(grant.reference, grant)

    def get(self, reference):
        return self._uow.pending.get(reference)

    def confirm(self, reference, now):
        self._uow.pending[reference] = dataclasses.replace(self._uow.pending[reference], confirmed_at=now)


CALLER = CallerIdentity(ip_address="203.0.113.7", user_agent="Mozilla/5.0", request_id="req-1")
PSEUDONYMIZE = Pseudonymizer(b"unit-test-key-" * 3)
NOW = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
